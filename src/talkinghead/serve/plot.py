"""The web app's picture of lip sync: the mouth's opening in the rendered video against the
speech's loudness, as `talkinghead eval` draws it (its first panel), measured with the same
functions as the lip-sync score (dlib's landmarks on the video, `eval.sync.frame_loudness`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mouth_plot(video: Path, out: Path, *, fps: float) -> Path:
    """Write a PNG of mouth opening vs loudness over time for `video` (its own sound); returns `out`.

    Needs the eval extra (dlib, matplotlib); uses matplotlib's object API, not pyplot, so
    several threads may draw at once.
    """
    from matplotlib.figure import Figure

    from ..audio.decode import load_audio
    from ..eval.sync import SCORE_SIDE, SyncScorer, frame_loudness
    from ..video.ffmpeg import probe_media
    from ..video.reader import read_frames

    info = probe_media(video)
    scale = min(1.0, SCORE_SIDE / max(info.width, info.height))
    size = (max(2, round(info.width * scale / 2) * 2), max(2, round(info.height * scale / 2) * 2))
    scorer = SyncScorer(every=1)
    for frame in read_frames(video, size=size):
        scorer.add(frame)
    aperture = scorer.aperture
    loudness = frame_loudness(load_audio(video, max_duration=None), fps, len(aperture))
    time = np.arange(len(aperture)) / fps

    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(time, aperture, color="tab:red", lw=1.5, label="mouth opening")
    ax.set(title="mouth opening vs speech loudness", xlabel="seconds", ylabel="inner-lip gap / eye distance")
    twin = ax.twinx()
    twin.fill_between(time, loudness, color="tab:blue", alpha=0.25, lw=0, label="speech loudness")
    twin.set_ylabel("loudness (0..1)")
    twin.legend(loc="upper right")
    ax.legend(loc="upper left")
    fig.savefig(out, dpi=80)
    return out
