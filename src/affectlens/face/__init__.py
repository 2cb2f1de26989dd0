"""Faces: detection, tracking, alignment, expression classification and facial cues.

The analyzer is :class:`affectlens.face.analyzer.FaceAnalyzer` (named in ``spec.py``). Heavy
dependencies (onnxruntime, mediapipe, OpenCV) load only when a model is first used.
"""
