"""The face modality, declared (see :class:`affectlens.modality.ModalitySpec`)."""

from __future__ import annotations

from pathlib import Path

from ..modality import CueSpec, ModalitySpec

IOD = "IOD"  # inter-ocular distances
#: the cues ``face.geometry.measure`` computes (units as in ``geometry.CUE_UNITS``; the conformance
#: test checks every emitted cue against this list)
CUES = (  # subject, change threshold (cue unit), decimals, headline: see affectlens.reason.cues
    CueSpec("AU25_26_mouth_open", (IOD,), "lip gap (AU25/26 proxy)",
            "Mouth opening (AU25/26 proxy)", 0.05, 3, headline=True),
    CueSpec("AU12_lip_corner_raise", (IOD,), "lip corners pulled up and out (AU12 proxy)",
            "Lip-corner raise (AU12 proxy)", 0.05, 3),  # width moves ±0.04 in speech
    # the corners' height alone, opposite sign: measured, never phrased (AU12 already speaks of it)
    CueSpec("AU15_lip_corner_depress", (IOD,), "lip corners lowered (AU15 proxy)"),
    CueSpec("AU1_2_brow_raise", (IOD,), "brows raised (AU1/2 proxy)", "Brow raise (AU1/2 proxy)", 0.03, 3),
    CueSpec("AU4_brow_lower", (IOD,), "brows lowered (AU4 proxy)", "Brow lowering (AU4 proxy)", 0.03, 3),
    CueSpec("AU5_43_eye_aperture", (IOD,), "eye opening (AU5/43 proxy)", "Eye opening (AU5/43 proxy)", 0.025, 3),
    CueSpec("AU9_nose_wrinkle", (IOD,), "nose wrinkle (AU9 proxy)", "Nose wrinkle (AU9 proxy)", 0.03, 3),
    CueSpec("head_yaw", ("deg",), "head turn", "Head yaw (turn)", 8.0, 1, headline=True),
    CueSpec("head_pitch", ("deg",), "head tilt up/down", "Head pitch (nod)", 8.0, 1, headline=True),
    CueSpec("head_roll", ("deg",), "head tilt sideways", "Head roll (tilt)", 8.0, 1),
)

SPEC = ModalitySpec(
    order=0,
    key="face",
    needs="video",
    analyzers={"face": "affectlens.face.analyzer:FaceAnalyzer"},
    no_input="input has no video or image",
    none_found="no face found",
    quality_keys=("frames_with_face",),
    cues=CUES,
    eval_tasks={"face": "face"},
    examples="affectlens.face.spec:examples",
)


def examples(root: Path):
    """Four frames of the example clip and a FER2013 crop; a black frame has no face."""
    import numpy as np

    from ..analyzers import SegmentInput
    from ..media import decode

    frames = list(decode.iter_frames(root / "examples" / "obama_oilspill_2010.mp4", fps=2))[:4]
    crop = decode.load_image(next((root / "tests" / "data" / "corpora" / "fer" / "happy").iterdir()))
    real = [SegmentInput(0.0, 2.0, frames=frames), SegmentInput(0.0, 0.0, frames=[(0.0, crop)], face_crop=True)]
    return real, SegmentInput(0.0, 1.0, frames=[(0.0, np.zeros((240, 320, 3), np.uint8))])
