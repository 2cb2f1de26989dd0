"""Words the English-only text models should not read.

The text and dialogue models were trained on English only; on other languages they return a
plausible-looking but meaningless reading (German "ich bin so wütend auf dich" read neutral
0.52). Two checks keep such words out:

- **Written language**: each segment's words are identified with py3langid (BSD-3-Clause; its
  model ships inside the PyPI package, nothing is downloaded). Short texts (under ``MIN_WORDS``
  words) are always read: language identification is unreliable on them ("Yeah." comes out as
  Acehnese). Checked on the English dev splits: 0 of 5,426 GoEmotions, 1,109 MELD and 1,000
  EmoBank texts are flagged at ``MIN_PROB`` 0.9.
- **Unsure speech recognition**: the English ASR turns speech in another language into English
  words ("Tell us, make the knife." for a German sentence), which the first check cannot see,
  but it is unsure of them. Words whose mean recogniser probability is below ``MIN_ASR_PROB``
  are not read (see ``MIN_ASR_PROB`` for the measurement).

A skipped segment gets no text estimate; the run counts the skips (``RunState``) and, when no
segment was read, the text modality's status says why (``RunState.absent``).
"""

from __future__ import annotations

from collections import Counter
from functools import cache

from ..analyzers import SegmentInput
from ..state import RunState

#: fewer words than this are always read as English
MIN_WORDS = 3
#: a segment is skipped when another language gets at least this probability
MIN_PROB = 0.9
#: ASR words (at least ``MIN_ASR_WORDS``) whose mean recogniser probability is below this are not
#: read. faster-whisper tiny.en, each clip alone, 60 random clips per corpus (seed 0): clips
#: below 0.6 (0.5): RAVDESS, English, 0 (0); EmoDB, German, 57 (49); nEMO, Polish, 60 (55).
#: English clips' 10th percentile is 0.87; the English sample clips read 0.79-0.92.
MIN_ASR_PROB = 0.6
MIN_ASR_WORDS = 2
#: the skip reason of words the recogniser was unsure of
ASR_UNSURE = "unsure ASR"
#: RunState part: language code (or ``ASR_UNSURE``) -> segments skipped
STATE_KEY = "text_not_english"


@cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def foreign_language(text: str) -> str | None:
    """The ISO 639-1 code of the language ``text`` is clearly written in when that is not
    English; ``None`` for English, for text too short to tell, or when unsure."""
    if len(text.split()) < MIN_WORDS:
        return None
    lang, prob = _identifier().classify(text)
    return lang if lang != "en" and prob >= MIN_PROB else None


def unreadable(segment: SegmentInput) -> str | None:
    """Why the text models should not read a segment's words: ``ASR_UNSURE`` when the
    recogniser was unsure of them, the code of another language they are written in, else ``None``."""
    probs = [w.confidence for w in segment.words if w.confidence is not None]
    if len(probs) >= MIN_ASR_WORDS and sum(probs) / len(probs) < MIN_ASR_PROB:
        return ASR_UNSURE
    return foreign_language(segment.text)


def _reason(skipped: Counter) -> str:
    langs = [f"{lang} in {n} segment{'s' * (n > 1)}" for lang, n in skipped.most_common() if lang != ASR_UNSURE]
    parts = [f"words are not English ({', '.join(langs)})"] if langs else []
    if n := skipped[ASR_UNSURE]:
        parts.append(f"speech recognition unsure in {n} segment{'s' * (n > 1)} (mean word probability "
                     f"below {MIN_ASR_PROB}: speech perhaps not English)")
    return "; ".join(parts) + "; the text models read English only"


def skip_unreadable(segments: dict[int, SegmentInput], state: RunState | None) -> set[int]:
    """Keys of ``segments`` the text models should not read (:func:`unreadable`). ``state``
    counts them and holds the text modality's absence reason (``RunState.absent``), used when
    no segment was read."""
    why = {i: r for i, x in segments.items() if (r := unreadable(x))}
    if why and state is not None:
        skipped = state.part(STATE_KEY, Counter)
        skipped.update(why.values())
        state.absent["text"] = _reason(skipped)
    return set(why)


def load() -> None:
    """Load the identifier now, with the other models (``ImportError`` when py3langid is
    missing), rather than mid-run in an analyzer thread."""
    _identifier()
