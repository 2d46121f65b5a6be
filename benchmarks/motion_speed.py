"""Real-time factor of the speech-driven motion front end: phones + prosody + lip curves.

Runs on a ~30 s clip made by joining the speech fixtures (English words, a phrase, a
sentence, Spanish) until it is long enough, and prints seconds of audio per second of
compute, wall clock and CPU. The target is at least 20x on 2 cores.

    PYTHONPATH=src python benchmarks/motion_speed.py [--seconds 30] [--fps 25] [--transcript]
"""

from __future__ import annotations

import argparse
import json
import time
import wave
from pathlib import Path

import numpy as np

from talkinghead.audio.loudness import loudness_envelope
from talkinghead.audio.phones import align_transcript, recognize_phones
from talkinghead.audio.prosody import analyze_prosody
from talkinghead.motion.lip import lip_curves
from talkinghead.types import AudioClip

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
PIECES = ("words", "emphasis", "sentence", "spanish")


def read_fixture(name: str) -> tuple[np.ndarray, str]:
    """(samples, transcript) of one fixture."""
    with wave.open(str(FIXTURES / f"{name}.wav")) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    meta = FIXTURES / f"{name}.json"
    text = json.loads(meta.read_text())["transcript"] if meta.exists() else ""
    return samples.astype(np.float32) / 32768, text


def long_clip(seconds: float) -> tuple[AudioClip, str]:
    """Fixtures joined in turn until the clip lasts at least `seconds`."""
    parts, texts, total, i = [], [], 0.0, 0
    while total < seconds:
        samples, text = read_fixture(PIECES[i % len(PIECES)])
        parts.append(samples)
        texts.append(text)
        total += len(samples) / 16_000
        i += 1
    return AudioClip(np.concatenate(parts)), " ".join(texts)


def timed(run):
    """(result, wall seconds, CPU seconds of this process) of run()."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length to build")
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate")
    parser.add_argument("--transcript", action="store_true",
                        help="force-align the joined transcripts instead of recognising")
    args = parser.parse_args()
    clip, text = long_clip(args.seconds)
    frames = clip.frame_count(args.fps)

    def find_phones():
        return align_transcript(clip, text) if args.transcript else recognize_phones(clip)

    phones, *phone_times = timed(find_phones)
    _, *prosody_times = timed(lambda: analyze_prosody(clip, args.fps, frames))
    loudness = loudness_envelope(clip.samples, clip.rate, args.fps, frames)
    _, *lip_times = timed(lambda: lip_curves(phones, loudness, args.fps))

    source = "alignment" if args.transcript else "recognition"
    print(f"clip {clip.duration:.1f} s, {frames} frames at {args.fps:g} fps, phones by {source}")
    stages = {"phones": phone_times, "prosody": prosody_times, "lip": lip_times}
    for name, (wall, cpu) in stages.items():
        print(f"  {name:8s} wall {wall:6.3f} s  cpu {cpu:6.3f} s  "
              f"({clip.duration / wall:6.1f}x real time)")
    wall, cpu = (sum(times) for times in zip(*stages.values()))
    print(f"real-time factor: {clip.duration / wall:.1f}x wall, {clip.duration / cpu:.1f}x cpu")


if __name__ == "__main__":
    main()
