"""Mouth shapes of the warp renderer as an independent judge sees them (dlib's 68 points).

Each portrait says tests/fixtures/speech/words.wav ("map see bob who me father pop zoo") with
phones force-aligned to its transcript. On the rendered frames, re-detected by dlib:
  - p/b/m: the smallest inner-lip gap within each bilabial phone's span (closed: <= 0.04
    eye distances and <= 15 % of the open-vowel gap);
  - open: the largest gap within the open vowels (AA, AH, AE, AO);
  - ee / oo: width ÷ height of the mouth at the middle of IY and UW/W, and the corner
    distance, against the photo's own mouth (neutral);
  - lips: upper and lower lip thickness at open vowels ÷ the photo's;
  - rest closed: with --rest closed, the largest gap in the pauses.

    PYTHONPATH=src python benchmarks/mouth_judge.py [--fps 25] [portrait ...]
"""

from __future__ import annotations

import argparse
import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkinghead.audio.features import analyze_audio
from talkinghead.eval.landmarks import FaceTracker, detect_boxes
from talkinghead.eval.mouth import MouthShape, mouth_shape
from talkinghead.face.analysis import analyze_face
from talkinghead.image import load_image
from talkinghead.api import Animator
from talkinghead.config import MotionConfig
from talkinghead.face.geometry import box_iou
from talkinghead.motion.generate import generate_motion
from talkinghead.types import AudioClip, PhoneSegment

ROOT = Path(__file__).resolve().parent.parent
PORTRAITS = {  # name: (kind, path)
    "astronaut smile": ("photo, broad smile with teeth", ROOT / "assets" / "portrait.png"),
    "hopper closed": ("photo, closed mouth", ROOT / "tests/fixtures/portraits/hopper_closed.jpg"),
    "hopper parted": ("photo, lips parted", ROOT / "tests/fixtures/portraits/hopper_parted.jpg"),
    "painting smile": ("painting, smile with teeth", ROOT / "tests/fixtures/portraits/painting_smile.jpg"),
    "drawing closed": ("pencil drawing, closed mouth", ROOT / "tests/fixtures/portraits/drawing_closed.jpg"),
    "3D character parted": ("3D character, lips parted", ROOT / "tests/fixtures/portraits/character_parted.jpg"),
}
SPEECH = ROOT / "tests/fixtures/speech/words"
BILABIALS, OPEN_VOWELS, SPREAD, ROUNDED = {"P", "B", "M"}, {"AA", "AH", "AE", "AO"}, {"IY"}, {"UW", "W"}


def load_speech() -> tuple[AudioClip, str]:
    with wave.open(str(SPEECH.with_suffix(".wav"))) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    transcript = json.loads(SPEECH.with_suffix(".json").read_text())["transcript"]
    return AudioClip(samples.astype(np.float32) / 32768), transcript


def rendered_mouths(path: Path, clip: AudioClip, transcript: str, fps: float, rest: str) -> tuple[MouthShape, list[MouthShape], list[PhoneSegment]]:
    """The photo's mouth, each frame's, and the aligned phones."""
    photo = load_image(path)
    portrait = analyze_face(photo)
    features = analyze_audio(clip, fps, transcript=transcript)
    motion = generate_motion(features, MotionConfig(rest=rest)).weighted(expression=0, pose=0)
    box = _judged_box(photo, portrait.face.box)
    tracker = FaceTracker(box=box, redetect_every=None)
    frames = [mouth_shape(tracker.update(frame)) for frame in Animator(portrait, rest=rest).frames(motion)]
    return mouth_shape(FaceTracker(box=box, redetect_every=None).update(photo)), frames, list(features.phones)


def _judged_box(photo: np.ndarray, face_box: tuple[int, int, int, int]) -> np.ndarray:
    """dlib's box of the face being animated (a painting may hold other "faces")."""
    return max(detect_boxes(photo), key=lambda box: float(box_iou(box, face_box)))


def spans(phones: list[PhoneSegment], names: set[str], frames: int, fps: float) -> list[np.ndarray]:
    """Frame indices whose time lies within each phone named."""
    times = (np.arange(frames) + 0.5) / fps
    found = [np.flatnonzero((times >= p.start) & (times < p.end)) for p in phones if p.phone.rstrip("012") in names]
    # A phone shorter than a frame still has the frame nearest its middle.
    return [f if f.size else np.array([int(np.clip(np.argmin(np.abs(times - (p.start + p.end) / 2)), 0, frames - 1))])
            for f, p in zip(found, [p for p in phones if p.phone.rstrip("012") in names])]


@dataclass(frozen=True)
class Figures:
    photo_gap: float
    closures: list[float]  # min gap per p/b/m, within the phone's span
    open_gap: float
    spread: tuple[float, float]  # aspect, width at "ee"
    rounded: tuple[float, float]  # ... at "oo"/"w"
    neutral: tuple[float, float]  # ... of the photo
    lips: tuple[float, float]  # upper, lower lip thickness at open vowels ÷ the photo's
    closed_pause_gap: float


def measure(path: Path, clip: AudioClip, transcript: str, fps: float) -> Figures:
    photo, frames, phones = rendered_mouths(path, clip, transcript, fps, "photo")
    gaps = np.array([m.gap for m in frames])
    closures = [float(gaps[f].min()) for f in spans(phones, BILABIALS, len(frames), fps)]
    open_frames = [f[np.argmax(gaps[f])] for f in spans(phones, OPEN_VOWELS, len(frames), fps)]
    middle = lambda names: [f[len(f) // 2] for f in spans(phones, names, len(frames), fps)]  # noqa: E731
    shape_at = lambda idx: (float(np.mean([frames[i].aspect for i in idx])), float(np.mean([frames[i].width for i in idx])))  # noqa: E731
    lips = (
        float(np.mean([frames[i].upper_lip for i in open_frames]) / photo.upper_lip),
        float(np.mean([frames[i].lower_lip for i in open_frames]) / photo.lower_lip),
    )
    _, closed, phones_closed = rendered_mouths(path, clip, transcript, fps, "closed")
    times = (np.arange(len(closed)) + 0.5) / fps
    pause = np.zeros(len(closed), bool)
    for p in phones_closed:
        if p.phone == "SIL" and p.end - p.start > 0.5:
            pause |= (times > p.start + 0.2) & (times < p.end - 0.2)
    return Figures(
        photo_gap=photo.gap,
        closures=closures,
        open_gap=float(np.median(gaps[open_frames])),
        spread=shape_at(middle(SPREAD)),
        rounded=shape_at(middle(ROUNDED)),
        neutral=(photo.aspect, photo.width),
        lips=lips,
        closed_pause_gap=float(max(m.gap for m, p in zip(closed, pause) if p)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("portraits", nargs="*", help="names (substrings) of the portraits to judge; default all")
    args = parser.parse_args()
    clip, transcript = load_speech()
    for name, (kind, path) in PORTRAITS.items():
        if args.portraits and not any(p in name for p in args.portraits):
            continue
        f = measure(path, clip, transcript, args.fps)
        worst = max(f.closures)
        print(f"{name} ({kind}):")
        print(f"  gap  photo {f.photo_gap:.3f}  open vowels {f.open_gap:.3f}  p/b/m min per phone {' '.join(f'{c:.3f}' for c in f.closures)}"
              f"  worst {worst:.3f} = {100 * worst / f.open_gap:.0f} % of open  {'ok' if worst <= 0.04 and worst <= 0.15 * f.open_gap else 'FAIL'}")
        print(f"  width/height  neutral {f.neutral[0]:.2f}  ee {f.spread[0]:.2f}  oo {f.rounded[0]:.2f}"
              f"   width  neutral {f.neutral[1]:.3f}  ee {f.spread[1]:.3f}  oo {f.rounded[1]:.3f}")
        print(f"  margins  ee-oo aspect {f.spread[0] - f.rounded[0]:+.2f}  ee-neutral {f.spread[0] - f.neutral[0]:+.2f}  oo-neutral {f.rounded[0] - f.neutral[0]:+.2f}"
              f"   width ee-oo {f.spread[1] - f.rounded[1]:+.3f}")
        print(f"  lip thickness at open vowels / photo  upper {f.lips[0]:.2f}  lower {f.lips[1]:.2f}")
        print(f"  --rest closed: largest gap in pauses {f.closed_pause_gap:.3f}")


if __name__ == "__main__":
    main()
