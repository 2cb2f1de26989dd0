"""The one source of the weights' licence terms: which data each shipped model was fit on,
the terms that data imposes, and which distribution ships it.

``README.md`` (licence table), both ``NOTICE`` files and both ``pyproject.toml`` licence
expressions are generated from or checked against this module by ``tests/test_licences.py``.
Regenerate the documents with ``python -m affectlens.licences --write``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

MAIN_DIST = "affectlens"
NC_DIST = "affectlens-models-nc"
CODE_LICENCE = "Apache-2.0"


@dataclass(frozen=True)
class Source:
    """One input of a model: a corpus or base weights, and the terms it carries."""

    name: str
    spdx: str
    terms: str


FER2013 = Source("FER2013 (Goodfellow et al. 2013)", "LicenseRef-FER2013", "research use only")
RAVDESS = Source("RAVDESS (Livingstone & Russo 2018)", "CC-BY-NC-SA-4.0", "non-commercial, share-alike, attribution")
EMODB = Source("Berlin EmoDB (Burkhardt et al. 2005)", "LicenseRef-EmoDB", "research use only")
NEMO = Source("nEMO (Christop 2024)", "CC-BY-NC-SA-4.0", "non-commercial, share-alike, attribution")
WHISPER = Source("Whisper tiny.en (OpenAI)", "MIT", "permissive")
MELD = Source("MELD (Poria et al. 2019)", "GPL-3.0-only", "copyleft: redistribute under GPL-3.0")
EMORYNLP = Source("EmoryNLP (Zahiri & Choi 2018)", "GPL-3.0-only",
                  "copyleft: redistribute under GPL-3.0 (dev split: context gate choice)")
GOEMOTIONS = Source("GoEmotions (Demszky et al. 2020)", "Apache-2.0", "permissive")
EMOBANK = Source("EmoBank (Buechel & Hahn 2017)", "CC-BY-SA-4.0", "share-alike, attribution")
MINILM = Source("all-MiniLM-L6-v2 (sentence-transformers)", "Apache-2.0", "permissive")


@dataclass(frozen=True)
class ModelLicence:
    """A shipped model, the sources its weights derive from and what that allows."""

    name: str
    modality: str
    sources: tuple[Source, ...]
    allows: str
    dist: str
    short: str = ""

    @property
    def spdx(self) -> str:
        return spdx_and(s.spdx for s in self.sources)

    @property
    def restricted(self) -> bool:
        return self.dist == NC_DIST


MODELS: tuple[ModelLicence, ...] = (
    ModelLicence("face-cnn", "face", (FER2013,), "research only (FER2013 terms)", NC_DIST,
                 "research only: FER2013"),
    ModelLicence("voice-whisper-tiny", "voice", (RAVDESS, EMODB, NEMO, WHISPER),
                 "research, non-commercial only; share-alike (RAVDESS and nEMO CC BY-NC-SA 4.0, EmoDB research terms)",
                 NC_DIST, "research, non-commercial only: RAVDESS and nEMO CC BY-NC-SA 4.0, EmoDB"),
    ModelLicence("dialogue-minilm", "dialogue", (MELD, EMORYNLP, GOEMOTIONS, EMOBANK, MINILM),
                 "any use, but redistribution only under GPL-3.0 (MELD, EmoryNLP)", NC_DIST,
                 "GPL-3.0: MELD, EmoryNLP"),
    ModelLicence("fusion-lr", "fusion", (RAVDESS, FER2013),
                 "research, non-commercial only (fit on RAVDESS out-of-fold and FER2013 val outputs)", NC_DIST,
                 "research, non-commercial only: RAVDESS, FER2013"),
    ModelLicence("text-minilm", "text", (GOEMOTIONS, EMOBANK, MINILM),
                 "any use, incl. commercial; redistribution share-alike with attribution (EmoBank CC BY-SA 4.0)",
                 MAIN_DIST),
)

#: texts of the non-SPDX terms, quoted in the NOTICE of the distribution that ships them
LICENSE_REFS = {
    "LicenseRef-FER2013": (
        "FER2013 was prepared by Pierre-Luc Carrier and Aaron Courville and released through the\n"
        "Kaggle \"Challenges in Representation Learning: Facial Expression Recognition\" challenge\n"
        "(ICML 2013 workshop; Goodfellow et al. 2013). It was released for research; no licence for\n"
        "commercial use was granted, and its images were collected from the web. Weights trained on\n"
        "it (face-cnn) and parameters fit on its outputs (fusion-lr) are provided for research use only."),
    "LicenseRef-EmoDB": (
        "The Berlin Database of Emotional Speech (EmoDB; Burkhardt, Paeschke, Rolfes, Sendlmeier and\n"
        "Weiss 2005, Technische Universitaet Berlin) is made available free of charge for research\n"
        "use, with citation of Burkhardt et al. (2005), \"A Database of German Emotional Speech\",\n"
        "Interspeech 2005. No commercial licence is granted. Weights trained on it\n"
        "(voice-whisper-tiny) are provided for research use only."),
}

#: SPDX identifiers whose full texts are standard; the NOTICE names them with a link
SPDX_URL = "https://spdx.org/licenses/{}.html"


def spdx_and(ids) -> str:
    """``A AND B`` of the unique ids, in first-seen order."""
    seen: list[str] = []
    for i in ids:
        if i not in seen:
            seen.append(i)
    return " AND ".join(seen)


def by_name(name: str) -> ModelLicence | None:
    return next((m for m in MODELS if m.name == name), None)


def dist_models(dist: str) -> list[ModelLicence]:
    return [m for m in MODELS if m.dist == dist]


def dist_expression(dist: str) -> str:
    """The distribution's SPDX licence expression: code (main only) plus every shipped model's terms."""
    ids = [CODE_LICENCE] if dist == MAIN_DIST else []
    return spdx_and(ids + [s.spdx for m in dist_models(dist) for s in m.sources])


def card_line(name: str) -> str:
    """The line under a model card's title naming its distribution and licence."""
    m = by_name(name)
    return f"Distribution: `{m.dist}`; weights' licence `{m.spdx}` ({m.allows}). See `NOTICE`."


def missing_reason(name: str, modality: str) -> str | None:
    """One line for a model that ships in the separate restricted distribution, else None."""
    m = by_name(name)
    if m is None or not m.restricted:
        return None
    return f"no model for {modality}: {name} ({m.short}) ships separately in {NC_DIST}"


def table_markdown() -> str:
    """The README licence table."""
    rows = ["| model | trained on (terms) | weights' licence (SPDX) | allows | distribution |",
            "|---|---|---|---|---|"]
    for m in MODELS:
        data = "; ".join(f"{s.name}: {s.terms}" for s in m.sources)
        rows.append(f"| `{m.name}` | {data} | `{m.spdx}` | {m.allows} | `{m.dist}` |")
    return "\n".join(rows)


def notice_text(dist: str) -> str:
    """The NOTICE of ``dist``: per model the data it derives from, the licence, and the
    texts of the ``LicenseRef-`` terms it carries."""
    lines = [f"{dist}: licence notice (generated from affectlens/licences.py)", "",
             f"Licence expression of this distribution: {dist_expression(dist)}", ""]
    if dist == MAIN_DIST:
        lines += [f"The code of affectlens is licensed under {CODE_LICENCE} (see LICENSE).",
                  f"Weights under research-only, non-commercial or GPL terms are not in this distribution;",
                  f"they ship separately in {NC_DIST} (folder models-nc/).", ""]
    lines.append("Model weights shipped here and the terms their training data impose:")
    for m in dist_models(dist):
        lines += ["", f"* {m.name} ({m.modality}) -- {m.spdx}", f"  allows: {m.allows}"]
        lines += [f"  - {s.name}: {s.spdx} ({s.terms})" for s in m.sources]
    refs = sorted({s.spdx for m in dist_models(dist) for s in m.sources if s.spdx.startswith("LicenseRef-")})
    std = sorted({s.spdx for m in dist_models(dist) for s in m.sources} - set(refs))
    lines += ["", "Standard licences named above (full texts at spdx.org):"]
    lines += [f"  {i}: {SPDX_URL.format(i)}" for i in std]
    for ref in refs:
        lines += ["", f"{ref}:", LICENSE_REFS[ref]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- generated documents
ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- licences:begin (generated: python -m affectlens.licences --write) -->", "<!-- licences:end -->"


def splice(text: str, body: str, begin: str = BEGIN, end: str = END) -> str:
    """Replace what lies between the ``begin`` and ``end`` markers of ``text`` by ``body``."""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"markers {begin!r} not found")
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def documents(root: Path = ROOT) -> dict[Path, str]:
    """Every generated document: path -> expected full text."""
    readme = root / "README.md"
    return {readme: splice(readme.read_text(), table_markdown()),
            root / "NOTICE": notice_text(MAIN_DIST),
            root / "models-nc" / "NOTICE": notice_text(NC_DIST)}


def sync(docs: dict[Path, str], write: bool, command: str) -> int:
    """Write the generated ``docs`` that differ on disk (``write``), or list them and return 1."""
    stale = [p for p, text in docs.items() if not p.is_file() or p.read_text() != text]
    for p in stale:
        if write:
            p.write_text(docs[p])
        print(f"wrote {p}" if write else f"stale: {p} (run python -m {command} --write)")
    return 1 if stale and not write else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return sync(documents(), "--write" in argv, "affectlens.licences")


if __name__ == "__main__":
    sys.exit(main())
