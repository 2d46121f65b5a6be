"""Timing accuracy of phones and lip closures on the speech fixtures, in video frames.

For each word of the fixtures with known word times (tests/fixtures/speech): how far the
force-aligned word starts and ends are from the true ones, and how far the first lip closure
of a p/b/m-initial word is from its true onset, with aligned and with recognised phones.
Also how often recognition gives the same viseme as alignment, frame by frame.

    PYTHONPATH=src python benchmarks/lip_timing.py [--fps 25]
"""

from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path

import numpy as np

from talkinghead.audio.loudness import loudness_envelope
from talkinghead.audio.phones import SILENCE, align_transcript, recognize_phones
from talkinghead.motion.lip import lip_curves
from talkinghead.motion.visemes import phone_to_viseme
from talkinghead.types import LIP_CHANNELS, AudioClip

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
JAW, PRESS = LIP_CHANNELS.index("jaw_open"), LIP_CHANNELS.index("lips_press")
SEARCH_FRAMES = 4  # a closure counts for a word if it comes this close to the onset


def load(name: str) -> tuple[AudioClip, dict]:
    with wave.open(str(FIXTURES / f"{name}.wav")) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    return AudioClip(samples.astype(np.float32) / 32768), meta


def word_spans(phones, meta) -> list[tuple[float, float]]:
    """Aligned (start, end) of each transcript word: its phones, counted from the
    dictionary lengths the alignment used (words are contiguous runs of its phones)."""
    from pocketsphinx import Decoder, get_model_path

    lookup = Decoder(dict=get_model_path("en-us/cmudict-en-us.dict"), lm=None, loglevel="FATAL")
    spoken = [seg for seg in phones if seg.phone != SILENCE]
    spans, i = [], 0
    for word in meta["words"]:
        size = len(lookup.lookup_word(word["word"]).split())
        spans.append((spoken[i].start, spoken[i + size - 1].end))
        i += size
    return spans


def closure_offsets(curves, meta, fps) -> list[int | None]:
    """Frames from each p/b/m-initial word's true onset to the nearest closed frame."""
    shut = np.flatnonzero((curves[:, PRESS] >= 0.95) & (curves[:, JAW] <= 0.05))
    offsets = []
    for word in meta["words"]:
        if word["word"][0] in "pbm":
            onset = int(word["start"] * fps)
            near = shut[np.abs(shut - onset) <= SEARCH_FRAMES]
            nearest = near[np.argmin(np.abs(near - onset))] if near.size else None
            offsets.append(None if nearest is None else int(nearest - onset))
    return offsets


def viseme_frames(phones, duration: float) -> np.ndarray:
    labels = np.full(int(duration * 100), "rest", dtype=object)
    for seg in phones:
        labels[round(seg.start * 100) : round(seg.end * 100)] = phone_to_viseme(seg.phone).name
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate")
    fps = parser.parse_args().fps
    starts, ends, agreement = [], [], []
    for name in ("words", "emphasis"):
        clip, meta = load(name)
        aligned, recognized = align_transcript(clip, meta["transcript"]), recognize_phones(clip)
        for (start, end), word in zip(word_spans(aligned, meta), meta["words"]):
            starts.append((start - word["start"]) * fps)
            ends.append((end - word["end"]) * fps)
        loudness = loudness_envelope(clip.samples, clip.rate, fps, clip.frame_count(fps))
        for label, phones in (("aligned", aligned), ("recognised", recognized)):
            offsets = closure_offsets(lip_curves(phones, loudness, fps), meta, fps)
            if offsets:
                print(f"{name}: closure offset from p/b/m onsets, {label} phones (frames): "
                      f"{['miss' if o is None else o for o in offsets]}")
        truth = viseme_frames(aligned, clip.duration)
        heard = viseme_frames(recognized, clip.duration)
        agreement.append((truth == heard)[truth != "rest"].mean())
    print(f"aligned word starts, error in frames at {fps:g} fps: mean |e| "
          f"{np.mean(np.abs(starts)):.2f}, max {np.max(np.abs(starts)):.2f}, "
          f"all {np.round(starts, 1).tolist()}")
    print(f"aligned word ends: mean |e| {np.mean(np.abs(ends)):.2f}, "
          f"max {np.max(np.abs(ends)):.2f}")
    print(f"recognised vs aligned viseme, speech frames agreeing: {np.mean(agreement):.0%}")


if __name__ == "__main__":
    main()
