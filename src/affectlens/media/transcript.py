"""Text inputs: subtitles (.srt, .vtt), plain or ``speaker: text`` transcripts (.txt) and
dialogue tables (MELD / EmoryNLP style CSV with ``Speaker`` and ``Utterance`` columns).

Everything becomes a list of dialogues, each a list of timed ``Word`` utterances. Text
without timestamps gets ordinal times: utterance *i* spans ``[i, i + 1)``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

from ..analyzers import Word
from .. import limits
from ..errors import InputError
from .decode import check_file

_TIME = r"(\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}"
_CUE_LINE = re.compile(rf"^\s*(?P<a>{_TIME})\s*-->\s*(?P<b>{_TIME})")
_SPEAKER_LINE = re.compile(r"^\s*(?P<who>[^:\n]{1,40}?)\s*:\s+(?P<text>\S.*)$")
_VTT_VOICE = re.compile(r"^<v(?:\.[^ >]*)?\s+([^>]+)>")
_TAGS = re.compile(r"<[^>]+>")


def parse_time(stamp: str) -> float:
    """``HH:MM:SS,mmm`` / ``MM:SS.mmm`` -> seconds; ``ValueError`` for minutes or seconds >= 60."""
    parts = stamp.replace(",", ".").split(":")
    secs = 0.0
    for i, part in enumerate(parts):
        value = float(part)
        if i > 0 and value >= 60:
            raise ValueError(f"bad time {stamp!r} (minutes and seconds must be below 60)")
        secs = secs * 60 + value
    return secs


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as cp1252 (``â€™`` -> ``’``), as found in MELD's CSVs."""
    if "â€" in text or "Ã" in text:
        try:
            return text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return text
    return text


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_text(path: str | Path) -> str:
    """Read a text file: UTF-8, or UTF-16/32 when it starts with a byte-order mark, else cp1252;
    refuses binary content (NUL bytes without a BOM)."""
    p = check_file(path)
    raw = p.read_bytes()
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), None)
    if encoding is None and b"\x00" in raw[:4096]:
        raise InputError(p, "binary content (NUL bytes), expected text; UTF-16/32 text needs a byte-order mark")
    try:
        text = raw.decode(encoding or "utf-8")
    except UnicodeDecodeError:
        if encoding:
            raise InputError(p, f"not valid {encoding.upper()} text despite its byte-order mark") from None
        text = raw.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise InputError(p, "binary content (NUL characters), expected text")
    if not text.strip():
        raise InputError(p, "file has no text")
    return text


def parse_subtitles(text: str) -> list[Word]:
    """Cues of an SRT or WebVTT document as timed utterances (speaker from ``<v Name>``).

    Raises ``ValueError`` naming the line for a bad time stamp or a cue that ends before it starts."""
    words: list[Word] = []
    block: list[str] = []
    span: tuple[float, float] | None = None

    def flush() -> None:
        if span and block:
            line = " ".join(block).strip()
            speaker = None
            m = _VTT_VOICE.match(line)
            if m:
                speaker = m.group(1).strip()
            line = _TAGS.sub("", line).strip()
            if line:
                words.append(Word(line, span[0], span[1], speaker=speaker))

    for n, line in enumerate(text.splitlines(), 1):
        m = _CUE_LINE.match(line)
        if m:
            flush()
            try:
                span = (parse_time(m.group("a")), parse_time(m.group("b")))
            except ValueError as exc:
                raise ValueError(f"line {n}: {exc}") from None
            if span[1] < span[0]:
                raise ValueError(f"line {n}: cue ends before it starts ({m.group('a')} --> {m.group('b')})")
            block = []
        elif not line.strip():
            flush()
            block, span = [], None
        elif span is not None:
            block.append(line.strip())
    flush()
    return words


def parse_transcript(text: str) -> list[Word]:
    """A plain transcript: ``speaker: text`` lines when most lines look like that,
    else one utterance per non-empty line. Times are ordinals."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    tagged = [_SPEAKER_LINE.match(ln) for ln in lines]
    dialogue = sum(m is not None for m in tagged) >= max(1, 0.6 * len(lines))
    words = []
    for i, (ln, m) in enumerate(zip(lines, tagged)):
        if dialogue and m:
            words.append(Word(m.group("text").strip(), float(i), float(i + 1), speaker=m.group("who").strip()))
        else:
            words.append(Word(ln, float(i), float(i + 1)))
    return words


def _column(fields: list[str], *names: str) -> str | None:
    low = {f.strip().lower().replace(" ", "_"): f for f in fields}
    for name in names:
        if name in low:
            return low[name]
    return None


def clean_speaker(value: str) -> str:
    """EmoryNLP stores speakers as ``['Rachel Green']``; return ``Rachel Green``."""
    return value.strip().strip("[]").replace("'", "").replace('"', "").strip()


def read_table(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV/TSV file as dicts, with a clear error when it is not a table."""
    text = read_text(path)
    delim = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    try:
        reader = csv.DictReader(io.StringIO(text), delimiter=delim)
        rows = []
        for row in reader:
            if None in row:
                raise InputError(path, f"line {reader.line_num}: {len(reader.fieldnames or []) + len(row[None])} "
                                       f"fields, the header has {len(reader.fieldnames or [])}")
            rows.append(row)
    except csv.Error as exc:
        raise InputError(path, f"malformed CSV ({exc})") from None
    if not rows:
        raise InputError(path, "table has a header but no rows")
    if any(not isinstance(k, str) or not k.strip() for k in rows[0]):
        raise InputError(path, "the header has an empty column name")
    return rows


def read_dialogue_rows(path: str | Path) -> list[dict]:
    """Normalised rows of a MELD / EmoryNLP style dialogue CSV.

    Returns
    -------
    list of dict
        ``{"dialogue", "speaker", "text", "label" (or None), "index"}`` in file order.
    """
    rows = read_table(path)
    fields = list(rows[0].keys())
    text_col = _column(fields, "utterance", "text", "transcript", "sentence")
    if text_col is None:
        raise InputError(path, f"no Utterance/text column (columns: {', '.join(fields)[:200]})")
    speaker_col = _column(fields, "speaker", "speaker_name")
    dialogue_col = _column(fields, "dialogue_id", "scene_id", "conversation_id", "dialog_id")
    label_col = _column(fields, "emotion", "label")
    out = []
    for i, row in enumerate(rows):
        text = fix_mojibake((row.get(text_col) or "").strip())
        group = row.get(dialogue_col, "") if dialogue_col else ""
        if dialogue_col and "season" in {k.lower() for k in row}:
            # EmoryNLP scene ids restart per episode: qualify them.
            group = f"{row.get('Season', '')}-{row.get('Episode', '')}-{group}"
        out.append({
            "dialogue": group,
            "speaker": clean_speaker(row.get(speaker_col) or "") if speaker_col else None,
            "text": text,
            "label": (row.get(label_col) or "").strip() if label_col else None,
            "index": i,
        })
    return out


def load_dialogues(path: str | Path, check_limits: bool = True) -> list[list[Word]]:
    """Read any text input (.txt, .srt, .vtt, .csv/.tsv) as dialogues of utterances.

    Raises
    ------
    InputError
        Unreadable, empty, binary or malformed files.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext in (".csv", ".tsv"):
        dialogues: dict[str, list[Word]] = {}
        for row in read_dialogue_rows(p):
            if row["text"]:
                i = float(row["index"])
                dialogues.setdefault(row["dialogue"], []).append(Word(row["text"], i, i + 1, speaker=row["speaker"]))
        if not dialogues:
            raise InputError(p, "no utterances in the table")
        if check_limits:
            _within_limit(p, [w for d in dialogues.values() for w in d])
        return list(dialogues.values())
    words = parse_text(read_text(p), p, subtitles=ext in (".srt", ".vtt"))
    return [_within_limit(p, words) if check_limits else words]


def parse_text(text: str, name: str | Path, subtitles: bool = False, check_limits: bool = False) -> list[Word]:
    """Utterances of a text: subtitle cues when it is (or looks like) SRT/WebVTT, else a plain
    or ``speaker: text`` transcript. ``name`` labels errors: bad cue times, cues that end before
    they start and (with ``check_limits``) too many utterances or words."""
    if not text.strip():
        raise InputError(name, "text is empty")
    if subtitles or _CUE_LINE.search(text[:2000] if "-->" in text else ""):
        try:
            words = parse_subtitles(text)
        except ValueError as exc:
            raise InputError(name, str(exc)) from None
        if not words:
            raise InputError(name, "no subtitle cues found")
    else:
        words = parse_transcript(text)
    return _within_limit(Path(name), words) if check_limits else words


def _within_limit(path: Path, words: list) -> list:
    """Refuse text whose analysis would run too long: too many utterances or words."""
    lim = limits.current()
    if len(words) > lim.max_utterances:
        raise InputError(path, f"{len(words)} utterances, over the {lim.max_utterances} limit "
                               "(AFFECTLENS_MAX_UTTERANCES)")
    n_words = sum(len(w.text.split()) for w in words)
    if n_words > lim.max_words:
        raise InputError(path, f"{n_words} words, over the {lim.max_words} limit (AFFECTLENS_MAX_WORDS)")
    return words


def load_transcript(path: str | Path) -> list[Word]:
    """A transcript for media (``--transcript``): timed subtitle cues, flattened."""
    p = Path(path)
    if p.suffix.lower() not in (".srt", ".vtt"):
        raise InputError(p, "a transcript for media must be .srt or .vtt (timed)")
    return load_dialogues(p, check_limits=False)[0]  # its length follows the media's duration limit
