"""Memory stays flat in input length: a 10-minute video through decode + VAD + segmentation."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from media_factory import EXAMPLE, looped

SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from affectlens import AnalysisRequest, Engine, Settings
    from affectlens.analyzers import Analyzer, build_estimate

    class Count(Analyzer):
        name, version = "counter", "0"
        def __init__(self, modality):
            self.modality, self.seen = modality, 0
        def analyze(self, x, state=None):
            data = x.frames if self.modality == "face" else x.audio
            if data is None or len(data) == 0:
                return None
            self.seen += len(data)
            return build_estimate(self.modality, "counter", np.full(7, 1 / 7))

    face, voice = Count("face"), Count("voice")
    eng = Engine(Settings(analyzers={"face": face, "voice": voice}))
    a = eng.analyze(sys.argv[1], AnalysisRequest(asr=False, modalities=("face", "voice")))
    # VmHWM: peak RSS of this process image. ru_maxrss would also count the pytest parent's
    # RSS at fork time (Linux carries it across exec), whatever tests ran before.
    try:
        peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(a.media.duration, len(a.segments), face.seen, voice.seen / 16000, round(peak))
""")


@pytest.mark.slow
def test_ten_minute_video_peak_rss(tmp_path):
    video = looped(EXAMPLE, tmp_path / "long.mp4", repeats=30)
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(video)], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    duration, n_segments, frames, audio_s, peak_mb = map(float, res.stdout.split())
    assert 600 <= duration < 610
    assert frames == pytest.approx(duration * 5, rel=0.02)  # every frame at 5 fps was decoded and handed out
    assert audio_s > 400  # speech segments' audio was handed out
    assert n_segments > 200
    assert peak_mb < 350, f"peak RSS {peak_mb} MB"  # measured 222-226 MB (README)
