"""Words: text emotion (GoEmotions 28, canonical 7, VAD) and dialogue-context emotion.

Importing this package registers the ``text`` and ``dialogue`` analyzers; onnxruntime
and tokenizers are imported only when a model is loaded.
"""

from .analyzer import DialogueAnalyzer, TextAnalyzer

__all__ = ["TextAnalyzer", "DialogueAnalyzer"]
