"""Voice modality: speech emotion (9 fine / 7 canonical labels, valence, arousal) and prosody cues.

Importing this package registers the ``voice`` analyzer
(:class:`affectlens.voice.analyzer.VoiceAnalyzer`); heavy runtimes load lazily.
"""

from . import analyzer  # noqa: F401  (registers "voice")
