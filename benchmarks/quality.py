"""Quality benchmark: the always-available measures of the warp renderer next to two floors.

Every portrait speaks every clip: English (assets/speech.wav), German (espeak-ng) and the
English clip with pink noise at 10 dB SNR (benchmarks/media, made by make_media.sh). Each
render is measured by `talkinghead.eval.evaluate`, and so are two floors built from it: the
still photo with the same speech, and the render with its speech moved 10 frames earlier (the
video 10 frames late). Then the speed of the cheap lip-sync score and of the full evaluation on
the first render. Prints Markdown (and writes it with --out).

    PYTHONPATH=src python benchmarks/quality.py [--size 512] [--out benchmarks/quality.md]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from talkinghead.api import Animator
from talkinghead.audio.decode import load_audio
from talkinghead.eval import SyncScorer, evaluate, sync_score
from talkinghead.eval.report import Report
from talkinghead.eval.sync import MAX_OFFSET
from talkinghead.types import AudioClip
from talkinghead.video.writer import VideoWriter

ROOT = Path(__file__).resolve().parent.parent
FPS = 25
SHIFT = 10  # frames the speech is moved for the second floor


def portraits() -> list[tuple[str, Path]]:
    from matplotlib import cbook  # Grace Hopper's portrait (public domain) ships in matplotlib's sample data

    return [("astronaut", ROOT / "assets" / "portrait.png"), ("Grace Hopper", Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))]


CLIPS = [
    ("English", ROOT / "assets" / "speech.wav"),
    ("German", ROOT / "benchmarks" / "media" / "german.wav"),
    ("English + noise", ROOT / "benchmarks" / "media" / "noisy.wav"),
]


def earlier(clip: AudioClip, frames: int) -> AudioClip:
    """The speech `frames` video frames earlier, padded with silence at the end."""
    n = frames * clip.rate // FPS
    return AudioClip(np.concatenate([clip.samples[n:], np.zeros(n, np.float32)]), clip.rate)


def still_video(path: Path, image: np.ndarray, clip: AudioClip) -> Path:
    with VideoWriter(path, size=(image.shape[1], image.shape[0]), fps=FPS, audio=clip, crf=18) as video:
        for _ in range(clip.frame_count(FPS)):
            video.write(image)
    return path


def measure(portrait: tuple[str, Path], size: int, folder: Path) -> list[tuple[str, str, str, Report]]:
    name, photo = portrait
    animator = Animator(photo, size=size)
    rows = []
    for speech, audio in CLIPS:
        clip = load_audio(audio, max_duration=None)
        ours = animator.animate(audio, folder / f"{name}-{speech}.mp4", progress=False).output
        still = still_video(folder / f"{name}-{speech}-still.mp4", animator.portrait.image, clip)
        rows.append((name, speech, "ours", evaluate(ours, reference=photo)))
        rows.append((name, speech, "still photo", evaluate(still, reference=photo)))
        rows.append((name, speech, f"ours, video {SHIFT} late", evaluate(ours, audio=earlier(clip, SHIFT), reference=photo)))
    return rows


def number(form: str):
    return lambda value: "–" if not np.isfinite(value) else form.format(value)


COLUMNS = (  # heading, value, format; the measures are described in the README
    ("offset", lambda r: r.sync.score.offset_frames, "{:+d}"),
    ("peak r", lambda r: r.sync.score.peak_correlation, "{:.2f}"),
    ("r at 0", lambda r: float(r.sync.correlations[MAX_OFFSET]), "{:.2f}"),
    ("confidence", lambda r: r.sync.score.confidence, "{:.2f}"),
    ("mouth motion speech", lambda r: r.sync.speech_motion, "{:.3f}"),
    ("mouth motion pauses", lambda r: r.sync.pause_motion, "{:.3f}"),
    ("identity", lambda r: r.identity.distance_mean, "{:.3f}"),
    ("jitter", lambda r: r.stability.landmark_jitter, "{:.2f}"),
    ("flicker", lambda r: r.stability.background_flicker, "{:.2f}"),
    ("blinks/min", lambda r: r.motion.blink_rate, "{:.0f}"),
    ("head °/s", lambda r: float(np.nansum(list(vars(r.motion.pose_speed).values()))), "{:.1f}"),
    ("head-speech 1 s", lambda r: r.motion.synchrony[1].head, "{:.2f}"),
)


def quality_table(rows: list[tuple[str, str, str, Report]]) -> str:
    lines = ["| portrait | speech | video | " + " | ".join(c for c, _, _ in COLUMNS) + " |", "|---" * (3 + len(COLUMNS)) + "|"]
    for portrait, speech, video, report in rows:
        cells = [number(form)(value(report)) for _, value, form in COLUMNS]
        lines.append(f"| {portrait} | {speech} | {video} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def timed(run, repeats: int = 3):
    """(result, best wall seconds, CPU seconds of that run): the best of a few runs, as the machine may be shared."""
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if best is None or wall < best[1]:
            best = (result, wall, cpu)
    return best


def speed_table(size: int, folder: Path) -> str:
    """Frames per second of rendering, of the cheap score and of the full evaluation, on one render."""
    photo, audio = ROOT / "assets" / "portrait.png", ROOT / "assets" / "speech.wav"
    animator = Animator(photo, size=size)
    motion = animator.motion(audio)
    video = animator.animate(audio, folder / "speed.mp4", progress=False).output
    clip = load_audio(audio, max_duration=None)
    sync_score(video)  # models loaded once, outside the timings

    def scored_in_memory():
        scorer = SyncScorer()
        for frame in frames:
            scorer.add(frame)
        return scorer.score(clip, FPS)

    frames, render_wall, render_cpu = timed(lambda: list(animator.frames(motion)))
    _, animate_wall, animate_cpu = timed(lambda: animator.animate(audio, folder / "again.mp4", progress=False))
    rows = [
        ("warp render (frames only)", render_wall, render_cpu),
        ("animate, whole run (render + encode)", animate_wall, animate_cpu),
        ("cheap score, frames in memory", *timed(scored_in_memory)[1:]),
        ("cheap score, from the file", *timed(lambda: sync_score(video))[1:]),
        ("full evaluate (no ground truth)", *timed(lambda: evaluate(video, reference=photo), repeats=1)[1:]),
    ]
    n = motion.frame_count
    lines = [
        f"{n} frames, {size}x{size}, on this machine; best of 3 runs (evaluate: 1). CPU: this process's CPU time"
        " (ffmpeg's encoding runs in its own process).",
        "",
        "| step | frames/s | ms/frame | CPU ms/frame | share of the animate run's time |",
        "|---|---|---|---|---|",
    ]
    for name, wall, cpu in rows:
        lines.append(f"| {name} | {n / wall:.0f} | {1000 * wall / n:.2f} | {1000 * cpu / n:.2f} | {wall / animate_wall:.0%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="square crop rendered around each face")
    parser.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for portrait in portraits() for row in measure(portrait, args.size, Path(tmp))]
        text = "## Quality\n\n" + quality_table(rows) + "\n\n## Speed\n\n" + speed_table(args.size, Path(tmp)) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
