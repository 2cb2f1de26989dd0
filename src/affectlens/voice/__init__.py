"""Voice modality: speech emotion (9 fine / 7 canonical labels, valence, arousal) and prosody cues.

The analyzer is :class:`affectlens.voice.analyzer.VoiceAnalyzer` (named in ``spec.py``);
heavy runtimes load lazily.
"""
