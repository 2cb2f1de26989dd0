"""The words modality, declared (see :class:`affectlens.modality.ModalitySpec`)."""

from __future__ import annotations

from pathlib import Path

from ..modality import CueSpec, ModalitySpec

SPEC = ModalitySpec(
    order=2,
    key="text",
    needs="words",
    analyzers={"text": "affectlens.text.analyzer:TextAnalyzer",
               "dialogue": "affectlens.text.analyzer:DialogueAnalyzer"},
    no_input="input has no words (no transcript, ASR off)",
    none_found="no words found",
    quality_keys=("n_words",),
    cues=(CueSpec("word", ("prob",), "drop of the label's probability without the word"),),
    eval_tasks={"text": "text", "vad": "text", "dialogue": "dialogue"},
    examples="affectlens.text.spec:examples",
)


def examples(root: Path):
    """An angry sentence, alone and after a previous turn; no words is nothing to read."""
    from ..analyzers import SegmentInput, Word

    words = [Word("I am so furious with you, this is a disaster.", 0.0, 1.0, speaker="A")]
    ctx = [Word("What did you do to my car?", -1.0, 0.0, speaker="A")]
    return [SegmentInput(0.0, 1.0, words=words), SegmentInput(0.0, 1.0, words=words, context=ctx, speaker="A")], \
        SegmentInput(0.0, 1.0, words=[])
