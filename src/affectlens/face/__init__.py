"""Faces: detection, tracking, alignment, expression classification and facial cues.

Importing this package registers the ``face`` analyzer (:class:`FaceAnalyzer`). Heavy
dependencies (onnxruntime, mediapipe, OpenCV) load only when a model is first used.
"""

from .analyzer import FaceAnalyzer, TrackSummary

__all__ = ["FaceAnalyzer", "TrackSummary"]
