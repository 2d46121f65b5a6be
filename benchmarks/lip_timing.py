"""Timing accuracy of phones and lip closures on the speech fixtures, in video frames.

For each word of the fixtures with known word times (tests/fixtures/speech): how far the
force-aligned word starts and ends are from the true ones, and how far the first lip closure
of a p/b/m-initial word is from its true onset, with aligned and with recognised phones.
Also how often recognition gives the same viseme as alignment, frame by frame.

Then lip closures per speaker, with and without a transcript, judged against the phones
force-aligned to the transcript on the wide-band recording: recall (share of p/b/m with the
lips shut on a frame within the phone's span +- 1 frame), closures inside open vowels (a
shut frame more than one frame inside an open vowel), other closures (runs of shut frames
touching no p/b/m), and timing (the phone's middle frame shut; first and last shut frames
against the phone's first and last). Speakers: the test fixture's three (tests/fixtures/
speech/closures*), six sentences by each of five espeak-ng voices (needs espeak-ng), and the
five LibriVox sentences of pocketsphinx's source distribution (--librivox DIR, see
tests/fixtures/speech/make_closures.sh); each also as a telephone call (300-3400 Hz, 8 kHz).
Sentences whose reference alignment fails are left out and counted.

--render also animates assets/portrait.png with the fixture's three speakers (warp renderer,
all motion levels, wide band and telephone, with and without the transcript) and judges the
rendered frames with the evaluation's own eyes (dlib's 68 landmarks, independent of the
MediaPipe mesh that drives the warp): a p/b/m is closed when the inner-lip gap is at most
CLOSED_APERTURES eye-corner distances on a frame within its span +- 1 frame.

    PYTHONPATH=src python benchmarks/lip_timing.py [--fps 25] [--librivox DIR] [--render]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

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


SENTENCES = (
    "Bob met my mother at the pub by the bay.",
    "Put the map back in the box, Pam.",
    "Maybe the big brown bear ate my plums.",
    "The plumber came home from the camp at nine.",
    "A happy puppy jumped upon the bumpy bed.",
    "Father bought a hot pot and some bread.",
)
# espeak-ng voice, words a minute, pitch
VOICES = (("en-us", 150, 50), ("en-gb+f3", 160, 60), ("en-gb-scotland+m3", 140, 40),
          ("en-us+f2", 175, 70), ("en-gb-x-rp+klatt2", 155, 50))
OPEN_VOWELS = ("AA", "AE", "AY", "AW", "EH", "AH", "EY", "AO", "OW", "OY")
PAD_S = 0.4  # silence around each synthesised sentence, as in the fixtures
# Inner-lip gap / outer eye-corner distance of closed lips, for dlib. The warp renderer's
# pressed lips measure 0.03-0.07 on the sample portrait (its own mouth, slightly open, 0.11):
# the figures are given at the strict bound and at the renderer's.
CLOSED_APERTURES = (0.04, 0.07)
ROOT = FIXTURES.parents[2]


@dataclass
class Tally:
    """Closure counts of one speaker and one phone source."""

    hits: list[bool] = field(default_factory=list)
    middle: list[bool] = field(default_factory=list)
    onset: list[int] = field(default_factory=list)  # first shut frame - the phone's first frame
    release: list[int] = field(default_factory=list)  # last shut frame - the phone's last frame
    open_vowels: int = 0
    in_open_vowels: int = 0
    other: int = 0

    def line(self) -> str:
        hits = np.array(self.hits)
        return (f"recall {hits.mean():.2f} ({hits.sum()}/{hits.size}), closed inside open vowels "
                f"{self.in_open_vowels}/{self.open_vowels}, other closures {self.other}, middle "
                f"frame shut {np.mean(self.middle):.2f}, onset {np.mean(self.onset):+.2f} "
                f"release {np.mean(self.release):+.2f} frames")


def telephone(clip: AudioClip) -> AudioClip:
    """The clip as a telephone call: 300-3400 Hz, 8 kHz, back at 16 kHz for analysis."""
    band = sosfiltfilt(butter(8, (300, 3400), "bandpass", fs=clip.rate, output="sos"), clip.samples)
    narrow = resample_poly(band, 8000, clip.rate)
    return AudioClip(np.clip(resample_poly(narrow, clip.rate, 8000), -1, 1).astype(np.float32))


def espeak(text: str, voice: str, speed: int, pitch: int) -> AudioClip:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
                       check=True)
        with wave.open(str(path)) as w:
            rate = w.getframerate()
            samples = np.frombuffer(w.readframes(w.getnframes()), np.int16) / 32768
    pad = np.zeros(round(PAD_S * 16000))
    return AudioClip(np.concatenate([pad, resample_poly(samples, 16000, rate), pad]).astype(np.float32))


def read_wav(path: Path) -> AudioClip:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000
        return AudioClip(np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768)


def speakers(librivox: Path | None) -> dict[str, list[tuple[AudioClip, str]]]:
    """Speaker name -> (wide-band clip, transcript) pairs."""
    fixture = json.loads((FIXTURES / "closures.json").read_text())
    found = {"fixture (3 speakers)": [(read_wav(FIXTURES / "closures.wav"), fixture["transcript"])]}
    if shutil.which("espeak-ng"):
        for voice, speed, pitch in VOICES:
            found[f"espeak-ng {voice}"] = [(espeak(text, voice, speed, pitch), text) for text in SENTENCES]
    if librivox:
        found["LibriVox reader"] = [(read_wav(wav), wav.with_suffix(".txt").read_text())
                                    for wav in sorted(librivox.glob("sense_and_sensibility_*.wav"))
                                    if wav.with_suffix(".txt").exists()]  # a reading, not a copy made from one
    return found


def reference(clip: AudioClip, text: str):
    """Phones aligned to the transcript, or None where the alignment falls back or drops words."""
    warned = []
    handler = logging.Handler()
    handler.emit = warned.append
    log = logging.getLogger("talkinghead")
    log.addHandler(handler)
    try:
        phones = align_transcript(clip, text)
    finally:
        log.removeHandler(handler)
    return None if warned else phones


def judge(tally: Tally, ref, phones, clip: AudioClip, fps: float) -> None:
    frames = clip.frame_count(fps)
    curves = lip_curves(phones, loudness_envelope(clip.samples, clip.rate, fps, frames), fps, "photo")
    shut = (curves[:, PRESS] >= 0.95) & (curves[:, JAW] <= 0.05)
    centres = (np.arange(frames) + 0.5) / fps
    near_bilabial = np.zeros(frames, bool)
    for seg in ref:
        if seg.phone in ("P", "B", "M"):
            span = (centres >= seg.start - 1 / fps) & (centres <= seg.end + 1 / fps)
            near_bilabial |= span
            tally.hits.append(bool(shut[span].any()))
            tally.middle.append(bool(shut[min(frames - 1, int((seg.start + seg.end) / 2 * fps))]))
            if shut[span].any():
                closed = np.flatnonzero(shut & span)
                tally.onset.append(int(closed[0] - int(seg.start * fps)))
                tally.release.append(int(closed[-1] - int(seg.end * fps)))
        elif seg.phone in OPEN_VOWELS:
            tally.open_vowels += 1
            inner = (centres >= seg.start + 1 / fps) & (centres <= seg.end - 1 / fps)
            tally.in_open_vowels += bool(shut[inner].any())
    edges = np.diff(np.concatenate([[0], shut.astype(int), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        tally.other += not near_bilabial[start:end].any()


def closures(fps: float, librivox: Path | None) -> None:
    dropped, seconds, spent = 0, 0.0, 0.0
    for name, sentences in speakers(librivox).items():
        tallies = {key: Tally() for key in ("no transcript", "telephone, no transcript", "transcript")}
        for clip, text in sentences:
            ref = reference(clip, text)
            if ref is None:
                dropped += 1
                continue
            judge(tallies["transcript"], ref, ref, clip, fps)
            for key, heard in (("no transcript", clip), ("telephone, no transcript", telephone(clip))):
                start = time.perf_counter()
                judge(tallies[key], ref, recognize_phones(heard), heard, fps)
                spent += time.perf_counter() - start
                seconds += heard.duration
        for key, tally in tallies.items():
            if tally.hits:
                print(f"{name}, {key}: {tally.line()}")
    print(f"sentences left out (reference alignment failed): {dropped}")
    print(f"recognition + lip curves: {seconds / spent:.1f}x real time")


def rendered(fps: float) -> None:
    """The fixture's closures as dlib sees them on rendered frames."""
    from talkinghead.api import Animator
    from talkinghead.eval.landmarks import FaceTracker
    from talkinghead.eval.sync import mouth_aperture

    fixture = json.loads((FIXTURES / "closures.json").read_text())
    wide = read_wav(FIXTURES / "closures.wav")
    ref = reference(wide, fixture["transcript"])
    animator = Animator(ROOT / "assets" / "portrait.png", fps=fps)
    for label, clip, transcript in (
        ("no transcript", wide, None), ("telephone, no transcript", telephone(wide), None),
        ("transcript", wide, fixture["transcript"]),
    ):
        motion = animator.motion(clip, transcript=transcript)
        tracker = FaceTracker()
        gaps = np.array([mouth_aperture(tracker.update(frame).points) for frame in animator.frames(motion)])
        for bound in CLOSED_APERTURES:
            hits, inside, vowels = _judge_gaps(gaps, ref, fps, bound)
            print(f"rendered, dlib judge, fixture, {label}, gap <= {bound}: recall {np.mean(hits):.2f} "
                  f"({sum(hits)}/{len(hits)}), closed inside open vowels {inside}/{vowels}")


def _judge_gaps(gaps: np.ndarray, ref, fps: float, bound: float) -> tuple[list[bool], int, int]:
    """(hit per p/b/m, open vowels closed inside, open vowels) from per-frame dlib gaps."""
    centres = (np.arange(len(gaps)) + 0.5) / fps
    hits, inside, vowels = [], 0, 0
    for seg in ref:
        if seg.phone in ("P", "B", "M"):
            span = (centres >= seg.start - 1 / fps) & (centres <= seg.end + 1 / fps)
            hits.append(bool(gaps[span].min() <= bound))
        elif seg.phone in OPEN_VOWELS:
            vowels += 1
            inner = (centres >= seg.start + 1 / fps) & (centres <= seg.end - 1 / fps)
            inside += bool(inner.any() and gaps[inner].min() <= bound)
    return hits, inside, vowels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate")
    parser.add_argument("--librivox", type=Path, help="pocketsphinx's test/data/librivox folder")
    parser.add_argument("--render", action="store_true", help="also judge rendered frames with dlib")
    args = parser.parse_args()
    fps = args.fps
    starts, ends, agreement = [], [], []
    for name in ("words", "emphasis"):
        clip, meta = load(name)
        aligned, recognized = align_transcript(clip, meta["transcript"]), recognize_phones(clip)
        for (start, end), word in zip(word_spans(aligned, meta), meta["words"]):
            starts.append((start - word["start"]) * fps)
            ends.append((end - word["end"]) * fps)
        loudness = loudness_envelope(clip.samples, clip.rate, fps, clip.frame_count(fps))
        for label, phones in (("aligned", aligned), ("recognised", recognized)):
            offsets = closure_offsets(lip_curves(phones, loudness, fps, "photo"), meta, fps)
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
    closures(fps, args.librivox)
    if args.render:
        rendered(fps)


if __name__ == "__main__":
    main()
