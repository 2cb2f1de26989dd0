"""Training recipes: ``python -m affectlens.train <face|voice|text|vad_teacher|text_vad|dialogue|dialogue_gate|fusion> [options]``.

Each recipe module ``affectlens.train.<name>`` has ``main(argv)`` and reproduces the
shipped weights (``src/affectlens/models/`` and ``models-nc/``) from the corpora (``--data``,
default ``$AFFECTLENS_DATA`` or ``../shared/data``). Training needs the ``train`` extra (torch).
After a recipe, ``provenance`` records in each meta.json what the models were fit and tuned on.
"""

import importlib
import sys

RECIPES = ("face", "face_quality", "face_ensemble", "voice", "text", "vad_teacher", "text_vad", "dialogue", "dialogue_gate", "fusion",
           "provenance")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in RECIPES:
        print(__doc__.strip())
        print("recipes: " + ", ".join(RECIPES))
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        module = importlib.import_module(f"affectlens.train.{argv[0]}")
    except ModuleNotFoundError as exc:
        print(f"affectlens.train: recipe {argv[0]!r} is not available: {exc}", file=sys.stderr)
        return 2
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
