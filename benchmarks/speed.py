"""End-to-end speed of `talkinghead animate` with the warp renderer, and time per stage.

    python benchmarks/speed.py            # 30 s of speech at 512x512 and on a 1080x1350 portrait

Prints the real-time factor (audio seconds / wall seconds; > 1 is faster than real time) of the
whole run (audio analysis, motion, rendering, encoding), with and without the lip-sync score
that ends every run, the speed of the speech analysis + motion alone, and where the time goes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from talkinghead.api import Animator
from talkinghead.audio.decode import load_audio
from talkinghead.audio.features import analyze_audio
from talkinghead.image import load_image
from talkinghead.motion.generate import generate_motion
from talkinghead.render.warp.renderer import WarpRenderer, prepare
from talkinghead.types import AudioClip
from talkinghead.video.writer import VideoWriter

ROOT = Path(__file__).resolve().parents[1]


def speech_clip(seconds: float) -> AudioClip:
    """The bundled speech repeated to `seconds`."""
    sample = load_audio(ROOT / "assets" / "speech.wav", max_duration=None)
    reps = int(np.ceil(seconds * sample.rate / len(sample.samples)))
    samples = np.tile(sample.samples, reps)[: int(seconds * sample.rate)]
    return AudioClip(samples=samples, original=samples[:, None], original_rate=sample.rate)


def tall_portrait() -> np.ndarray:
    """A 1080x1350 portrait: the sample photo enlarged, its lower edge extended."""
    photo = cv2.resize(load_image(ROOT / "assets" / "portrait.png"), (1080, 1080), interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(photo, 0, 270, 0, 0, cv2.BORDER_REPLICATE)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def best_of(runs: int, fn) -> float:
    """The shortest wall time of `runs` calls: the least disturbed by other work on the machine."""
    return min(timed(fn)[1] for _ in range(runs))


def measure(name: str, image, clip: AudioClip, fps: float = 25.0) -> dict:
    animator, t_face = timed(Animator, image)
    features, t_audio = timed(analyze_audio, clip, fps)
    motion, t_motion = timed(generate_motion, features)
    prepared, t_prepare = timed(prepare, animator.portrait)
    x0, y0, x1, y1 = prepared.rig.region
    renderer = WarpRenderer()
    # Rendering alone, as `animate` renders (its thread settings), frames discarded.
    start = time.perf_counter()
    for _ in renderer.frames(animator.portrait, motion):
        pass
    t_render = time.perf_counter() - start
    # Rendering and encoding, ffmpeg encoding beside the renderer, no audio analysis.
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with VideoWriter(Path(tmp) / "enc.mp4", size=animator.portrait.size, fps=fps, audio=clip) as video:
            for frame in renderer.frames(animator.portrait, motion):
                video.write(frame)
        t_encode = time.perf_counter() - start
        # The real thing, end to end (audio decoding is already done: the clip is in memory).
        out = Path(tmp) / "out.mp4"
        t_total = best_of(3, lambda: Animator(image).animate(clip, out, progress=False))
        t_no_score = best_of(3, lambda: Animator(image).animate(clip, out, progress=False, score=False))
    w, h = animator.portrait.size
    return {
        "case": f"{name} ({w}x{h}, region {x1 - x0}x{y1 - y0})",
        "audio s": clip.duration,
        "face analysis s": t_face,
        "audio analysis s (phones, prosody, voice)": t_audio,
        "motion s": t_motion,
        "speech analysis + motion, x real time": clip.duration / (t_audio + t_motion),
        "rig s": t_prepare,
        "render ms/frame": 1000 * t_render / motion.frame_count,
        "render + encode ms/frame": 1000 * t_encode / motion.frame_count,
        "end-to-end s": t_total,
        "end-to-end, x real time": clip.duration / t_total,
        "end-to-end without score s": t_no_score,
        "end-to-end without score, x real time": clip.duration / t_no_score,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the speech (default 30)")
    args = parser.parse_args()
    clip = speech_clip(args.seconds)
    rows = [
        measure("512x512 sample", ROOT / "assets" / "portrait.png", clip),
        measure("1080x1350 portrait", tall_portrait(), clip),
    ]
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for key in keys:
        cells = [f"{r[key]:.2f}" if isinstance(r[key], float) else str(r[key]) for r in rows]
        print(f"{key:<{width}}  " + "  |  ".join(cells))


if __name__ == "__main__":
    main()
