"""Words the English-only text models should not read.

The text and dialogue models were trained on English only; on other languages they return a
plausible-looking but meaningless reading (German "ich bin so wütend auf dich" read neutral
0.52). Each segment's words are therefore identified with py3langid (BSD-3-Clause; its model
ships inside the PyPI package, nothing is downloaded) and a segment clearly in another
language gets no text estimate; the run records which languages were skipped and the
modality status says so. Short texts (under ``MIN_WORDS`` words) are always read: language
identification is unreliable on them ("Yeah." comes out as Acehnese).

Checked on the English dev splits: 0 of 5,426 GoEmotions, 1,109 MELD and 1,000 EmoBank texts
are flagged at ``MIN_PROB`` 0.9.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

from ..state import RunState

#: fewer words than this are always read as English
MIN_WORDS = 3
#: a segment is skipped when another language gets at least this probability
MIN_PROB = 0.9
#: RunState part: language code -> segments skipped
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


def skip_foreign(texts: dict[int, str], state: RunState | None) -> set[int]:
    """Keys of ``texts`` that are not English. ``state`` counts them per language and holds the
    text modality's absence reason (``RunState.absent``), used when no segment was read."""
    foreign = {i: lang for i, t in texts.items() if (lang := foreign_language(t))}
    if foreign and state is not None:
        skipped = state.part(STATE_KEY, Counter)
        skipped.update(foreign.values())
        langs = ", ".join(f"{lang} in {n} segment{'s' * (n > 1)}" for lang, n in skipped.most_common())
        state.absent["text"] = f"words are not English ({langs}); the text models read English only"
    return set(foreign)


def load() -> None:
    """Load the identifier now, with the other models (``ImportError`` when py3langid is
    missing), rather than mid-run in an analyzer thread."""
    _identifier()
