"""Words: text emotion (GoEmotions 28, canonical 7, VAD) and dialogue-context emotion.

The analyzers are :class:`affectlens.text.analyzer.TextAnalyzer` and ``DialogueAnalyzer``
(named in ``spec.py``); onnxruntime and tokenizers are imported only when a model is loaded.
"""
