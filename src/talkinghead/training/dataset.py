"""Training samples from a prepared set (`talkinghead prepare`), drawn as the release draws them.

Every draw comes from a generator seeded by (seed, sample key), where the key is the sample's
position in the run: the same run gives the same samples whatever the number of data-loading
workers, and a resumed run continues with exactly the samples it would have drawn.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import InputError
from ..render.hallo.masks import BaseMasks, masks_at
from .config import DataConfig

log = logging.getLogger("talkinghead")


@dataclass(frozen=True)
class Clip:
    folder: Path
    frames: int
    size: int  # side of the stored crops

    def image(self, index: int, size: int) -> np.ndarray:
        """(3, size, size) float32 in [-1, 1]: frame `index`, RGB, resized when needed."""
        path = self.folder / "frames" / f"{index:06d}.jpg"
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise InputError(f"{path} is missing or unreadable: prepare the set again")
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
        if pixels.shape[0] != size:
            pixels = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA if pixels.shape[0] > size else cv2.INTER_CUBIC)
        return (pixels.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)


def load_clips(dataset_dir: Path | None, min_frames: int = 1) -> list[Clip]:
    """The complete clips of a prepared set with at least `min_frames` frames, sorted by name."""
    if dataset_dir is None:
        raise InputError("data.dataset is not set: give the folder `talkinghead prepare` wrote")
    dataset_dir = Path(dataset_dir)
    if not (dataset_dir / "clips").is_dir():
        raise InputError(f"{dataset_dir} is not a prepared set (no clips/ folder): run `talkinghead prepare VIDEOS -o {dataset_dir}` first")
    clips, short = [], 0
    for meta_path in sorted((dataset_dir / "clips").glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        if meta["frames"] < min_frames:
            short += 1
            continue
        clips.append(Clip(meta_path.parent, meta["frames"], meta["size"]))
    if short:
        log.warning("%d clips of %s have %d frames or fewer and are left out", short, dataset_dir, min_frames - 1)
    if not clips:
        raise InputError(f"{dataset_dir} has no usable clip (stage 2 needs more than {min_frames - 1} frames per clip)")
    return clips


class HalloDataset(torch.utils.data.Dataset):
    """Samples of stage 1 (a reference and a target frame) or stage 2 (frames, motion frames,
    audio windows, masks). Indexed by (clip index, sample key); see `EpochBatches`."""

    def __init__(self, clips: list[Clip], stage: int, data: DataConfig, seed: int):
        self.clips = clips
        self.stage = stage
        self.data = data
        self.seed = seed
        self._conditions: dict[int, dict] = {}  # per clip: embedding, face region, masks

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, key = item
        rng = np.random.default_rng([self.seed, key])
        clip = self.clips[index]
        sample = self._stage1(clip, rng) if self.stage == 1 else self._stage2(clip, rng)
        return {**sample, **self._clip_conditions(index)}

    def _stage1(self, clip: Clip, rng: np.random.Generator) -> dict:
        """A reference frame and a target at least `sample_margin` frames away when the clip allows."""
        n, margin = clip.frames, min(self.data.sample_margin, clip.frames)
        reference = int(rng.integers(0, n))
        if reference + margin < n:
            target = int(rng.integers(reference + margin, n))
        elif reference - margin > 0:
            target = int(rng.integers(0, reference - margin + 1))
        else:
            target = int(rng.integers(0, n))
        size = self.data.size
        return {"target": clip.image(target, size), "reference": clip.image(reference, size)}

    def _stage2(self, clip: Clip, rng: np.random.Generator) -> dict:
        """`frames` consecutive frames, the `motion_frames` before them, a reference frame from
        the same range, and each frame's audio window (t - margin .. t + margin)."""
        d = self.data
        low, high = d.motion_frames, clip.frames - d.frames - d.audio_margin - 1
        start = int(rng.integers(low, high + 1))
        reference = int(rng.integers(low, high + 1))
        frames = np.stack([clip.image(i, d.size) for i in range(start, start + d.frames)])
        motion = np.stack([clip.image(i, d.size) for i in range(start - d.motion_frames, start)])
        return {"frames": frames, "motion": motion, "reference": clip.image(reference, d.size), "audio": self._windows(clip, start)}

    def _windows(self, clip: Clip, start: int) -> np.ndarray:
        """(frames, 2·margin + 1, layers, width) float32 wav2vec2 windows, read without loading
        the clip's whole feature file."""
        from safetensors import safe_open

        d = self.data
        first = start - d.audio_margin
        with safe_open(str(clip.folder / "audio_emb.safetensors"), framework="numpy") as file:
            rows = file.get_slice("audio_emb")[first : start + d.frames + d.audio_margin].astype(np.float32)
        width = 2 * d.audio_margin + 1
        return np.stack([rows[f : f + width] for f in range(d.frames)])

    def _clip_conditions(self, index: int) -> dict:
        if index not in self._conditions:
            clip = self.clips[index]
            stored = np.load(clip.folder / "masks.npz")
            masks = masks_at(BaseMasks(stored["face_region"], stored["face"], stored["lip"]), self.data.size)
            flat = lambda levels: [m.reshape(-1) for m in levels]  # noqa: E731
            self._conditions[index] = {
                "face_embedding": np.load(clip.folder / "face_embedding.npy").astype(np.float32),
                "face_region": masks.face_region,
                "masks": {"pose": flat(masks.pose), "expression": flat(masks.expression), "lip": flat(masks.lip)},
            }
        return self._conditions[index]


class EpochBatches:
    """The micro-batches of one process, epoch by epoch: a seeded permutation of the clips
    (repeated when the set is smaller than one global batch), cut into global batches, each
    split across the processes. Items are (clip index, sample key)."""

    def __init__(self, clips: int, batch_size: int, *, seed: int, rank: int = 0, world: int = 1):
        self.clips, self.batch_size, self.seed, self.rank, self.world = clips, batch_size, seed, rank, world
        self.repeats = math.ceil(batch_size * world / clips)

    def __len__(self) -> int:
        """Micro-batches per epoch for each process (an incomplete last global batch is dropped)."""
        return self.clips * self.repeats // (self.batch_size * self.world)

    def epoch(self, epoch: int, start: int = 0) -> list[list[tuple[int, int]]]:
        """Batches `start`.. of `epoch` for this process."""
        size = self.clips * self.repeats
        order = torch.randperm(size, generator=torch.Generator().manual_seed(self.seed + epoch)) % self.clips
        batches = []
        for b in range(start, len(self)):
            first = (b * self.world + self.rank) * self.batch_size
            batches.append([(int(order[p]), epoch * size + p) for p in range(first, first + self.batch_size)])
        return batches


def validation_inputs(dataset_dir: Path | None, clip: str | None, size: int, seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A prepared clip as inference inputs: its first analysed frame (size, size, 3) uint8 RGB, that
    frame's landmarks (478, 3) in its pixels, and up to `seconds` of its 16 kHz audio (N,) float32."""
    from scipy.io import wavfile

    clips = load_clips(dataset_dir)
    chosen = clips[0] if clip is None else next((c for c in clips if c.folder.name == clip), None)
    if chosen is None:
        raise InputError(f"validation.clip {clip!r} is not a clip of {dataset_dir}")
    marks = np.load(chosen.folder / "landmarks.npz")
    first = int(marks["index"][0])  # the first analysed frame
    image = ((chosen.image(first, size).transpose(1, 2, 0) + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
    landmarks = marks["points"][0] * (size / chosen.size)
    rate, samples = wavfile.read(chosen.folder / "audio.wav")
    return image, landmarks.astype(np.float32), (samples[: int(seconds * rate)] / 32768.0).astype(np.float32)
