"""End-to-end speed of `talkinghead animate` (warp renderer) against the bare encoder, and the stages.

    python benchmarks/speed.py                 # 30 s of speech: the 512² sample and a 1080×1350 portrait
    python benchmarks/speed.py --memory        # also peak memory for 30 s and for 10 min of speech

The encoder ratio is the wall time of a whole `animate` run (face analysis, audio analysis,
motion, rendering, encoding, the lip-sync score) divided by the time ffmpeg alone takes to
transcode the frames it produced with one thread (`-c:v libx264 -preset veryfast -crf 18
-threads 1`), both measured in the same run: 1.0 would mean the encoder is the only cost.
Times are the best of `--runs`, the least disturbed by other work on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from talkinghead.audio.decode import load_audio
from talkinghead.config import AnimateConfig
from talkinghead.engine import Engine, flat_options
from talkinghead.image import load_image
from talkinghead.render.base import RenderRequest
from talkinghead.types import AudioClip
from talkinghead.video.ffmpeg import ffmpeg_command

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


def transcode_seconds(video: Path, folder: Path) -> float:
    """Wall time of ffmpeg alone re-encoding `video`'s frames with one thread (decode included)."""
    out = folder / "transcode.mp4"
    args = ["-y", "-loglevel", "error", "-threads", "1", "-i", str(video), "-an",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-threads", "1", str(out)]
    started = time.perf_counter()
    subprocess.run(ffmpeg_command(args), check=True)
    return time.perf_counter() - started


def animate_once(image, clip: AudioClip, out: Path, **options) -> dict:
    """One whole `animate` on a fresh engine, as the CLI runs it (speech analysed while the
    portrait is prepared; models already in memory after the first run), and its stages."""
    config = AnimateConfig.from_options(**options)
    started = time.perf_counter()
    result = Engine().animate(image, clip, out, config)
    return {"wall": time.perf_counter() - started, **result.stages}


def renderer_alone(image, clip: AudioClip) -> float:
    """Seconds per frame of the warp renderer by itself: its frames made and dropped, nothing
    encoded or scored, nothing beside it."""
    config = AnimateConfig()
    engine = Engine()
    subject = engine.prepare(image, config)
    speech = engine.speech(clip, config, reads_motion=True)
    request = RenderRequest(clip=clip, fps=25, frame_count=speech.motion.frame_count, motion=speech.motion, options=flat_options(config))
    started = time.perf_counter()
    for _ in subject.renderer.frames(subject.prepared, request, lambda *progress: None):
        pass
    return (time.perf_counter() - started) / request.frame_count


def measure(name: str, image, clip: AudioClip, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        scored = min((animate_once(image, clip, out) for _ in range(runs)), key=lambda r: r["wall"])
        bare = min(animate_once(image, clip, out, score=False)["wall"] for _ in range(runs))
        transcode = min(transcode_seconds(out, Path(tmp)) for _ in range(runs))
    alone = min(renderer_alone(image, clip) for _ in range(runs))
    size = image.shape[1::-1] if isinstance(image, np.ndarray) else load_image(image).shape[1::-1]
    frames = round(clip.duration * 25)
    return {
        "case": f"{name} ({size[0]}x{size[1]})",
        "audio s": clip.duration,
        "transcode alone, 1 thread s": transcode,
        "animate s": scored["wall"],
        "encoder ratio (animate / transcode)": scored["wall"] / transcode,
        "animate --no-score s": bare,
        "encoder ratio --no-score": bare / transcode,
        "score share of wall time": (scored["wall"] - bare) / scored["wall"],
        "x real time": clip.duration / scored["wall"],
        "stage: portrait s": scored["portrait"],
        "stage: audio s": scored["audio"],
        "stage: motion (analysis + generation) s": scored["motion"],
        "renderer alone ms/frame": 1000 * alone,
        "transcode alone ms/frame": 1000 * transcode / frames,
        "stage: render (waiting on the renderer) ms/frame": 1000 * scored["render"] / frames,
        "stage: encode (waiting on ffmpeg) ms/frame": 1000 * scored["encode"] / frames,
        "stage: score (waiting on the scorer) s": scored.get("score", 0.0),
    }


def peak_memory(seconds: float) -> float:
    """Peak resident memory (MiB) of a fresh process animating `seconds` of speech at 512²."""
    code = (
        "import sys, tempfile, resource; sys.path.insert(0, %r); from speed import speech_clip; import talkinghead;"
        "d = tempfile.mkdtemp(); talkinghead.animate(%r, speech_clip(%r), d + '/m.mp4', progress=False, max_duration=%r);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    ) % (str(Path(__file__).parent), str(ROOT / "assets" / "portrait.png"), seconds, seconds + 1)
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the speech (default 30)")
    parser.add_argument("--runs", type=int, default=2, help="runs per measure; the best is kept (default 2)")
    parser.add_argument("--memory", action="store_true", help="also peak memory for 30 s and 10 min of speech")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    clip = speech_clip(args.seconds)
    rows = [
        measure("512x512 sample", ROOT / "assets" / "portrait.png", clip, args.runs),
        measure("1080x1350 portrait", tall_portrait(), clip, args.runs),
    ]
    if args.memory:
        for row, seconds in zip(rows, (30.0, 600.0)):
            row[f"peak RSS, 512² and {seconds:g} s of speech, MiB"] = peak_memory(seconds)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    width = max(len(k) for k in keys)
    for key in keys:
        cells = [f"{r[key]:.2f}" if isinstance(r.get(key), float) else str(r.get(key, "")) for r in rows]
        print(f"{key:<{width}}  " + "  |  ".join(cells))


if __name__ == "__main__":
    main()
