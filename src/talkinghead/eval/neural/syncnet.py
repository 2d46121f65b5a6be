"""Sync-C and Sync-D with SyncNet (Chung & Zisserman, 2016), as published with `syncnet_v2.model`.

The protocol of joonson/syncnet_python: video at 25 fps; face crops around a smoothed face
track (box half-size and centre median-filtered over 13 frames, the crop reaching 1.4 box
half-sizes sideways and 1.8 below the centre, grey 110 beyond the frame), 224 x 224, BGR,
0..255; audio as 13 MFCCs at 100 Hz (python_speech_features' defaults on 16-bit samples);
each video frame's 5-frame window against the 20 MFCC frames of the same 0.2 s; for offsets of
-15..15 frames the mean embedding distance over the video. Sync-D is the smallest mean
distance, Sync-C the median minus the smallest, the offset the one with the smallest
distance (+ = video late relative to audio).

One difference: the published pipeline finds faces with S3FD, which is not available here;
the face track comes from dlib's landmarks (their bounding box), so crops sit slightly
differently and scores can differ a little from published numbers.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.fft import dct
from scipy.signal import medfilt
from tqdm import tqdm

from ...errors import ModelError
from ...types import AudioClip
from ...video.reader import read_frames
from ..signals import fill_gaps
from . import model_file

FPS = 25.0
MFCC_PER_FRAME = 4  # 100 Hz MFCCs per 25 fps video frame
WINDOW = 5  # video frames per SyncNet input (0.2 s)
MAX_OFFSET = 15
CROP_SIZE = 224
CROP_SCALE = 0.40  # the published crop margin
BOX_SMOOTHING = 13  # frames, median filter over the face track
PAD_VALUE = 110  # grey outside the frame
BATCH = 20
HINT = "give the path of SyncNet's syncnet_v2.model (from joonson/syncnet_python's download_model.sh)"

# The published network's layer layout; widths are read from the weights, so a tiny network with
# the same layout (the tests' stand-in) loads as well as the real one.
_CONV_INDICES = (0, 4, 8, 11, 14, 18)
_FC_INDICES = (0, 3)


@dataclass(frozen=True)
class SyncNetResult:
    offset_frames: int  # + = video late relative to audio
    sync_c: float  # Sync-C (LSE-C): median - min of the mean distance over offsets; higher is better
    sync_d: float  # Sync-D (LSE-D): the smallest mean distance; lower is better
    distances: np.ndarray  # (31,) float32 mean embedding distance at offsets -15..15


def _widths(state: dict, branch: str) -> tuple[list[int], list[int]]:
    convs = [int(state[f"netcnn{branch}.{i}.weight"].shape[0]) for i in _CONV_INDICES]
    fcs = [int(state[f"netfc{branch}.{i}.weight"].shape[0]) for i in _FC_INDICES]
    return convs, fcs


def build_syncnet(audio: tuple[list[int], list[int]], lip: tuple[list[int], list[int]]):
    """SyncNet with the published layout and the given (conv widths, fc widths) per branch."""
    import torch.nn as nn

    def block2d(c_in, c_out, kernel, padding):
        return [nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

    def block3d(c_in, c_out, kernel, stride=1, padding=0):
        return [nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=padding), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)]

    def head(c_in, widths):
        return nn.Sequential(nn.Linear(c_in, widths[0]), nn.BatchNorm1d(widths[0]), nn.ReLU(), nn.Linear(widths[0], widths[1]))

    a, l = audio[0], lip[0]
    net = nn.Module()
    # Audio: (N, 1, 13, 20) MFCC window -> (N, a[5], 1, 1).
    net.netcnnaud = nn.Sequential(
        *block2d(1, a[0], 3, 1), nn.MaxPool2d(1, 1),
        *block2d(a[0], a[1], 3, 1), nn.MaxPool2d(3, stride=(1, 2)),
        *block2d(a[1], a[2], 3, 1),
        *block2d(a[2], a[3], 3, 1),
        *block2d(a[3], a[4], 3, 1), nn.MaxPool2d(3, stride=2),
        *block2d(a[4], a[5], (5, 4), 0),
    )
    # Lips: (N, 3, 5, 224, 224) BGR window -> (N, l[5], 1, 1, 1).
    net.netcnnlip = nn.Sequential(
        *block3d(3, l[0], (5, 7, 7), stride=(1, 2, 2)), nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
        *block3d(l[0], l[1], (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)), nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        *block3d(l[1], l[2], (1, 3, 3), padding=(0, 1, 1)),
        *block3d(l[2], l[3], (1, 3, 3), padding=(0, 1, 1)),
        *block3d(l[3], l[4], (1, 3, 3), padding=(0, 1, 1)), nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2)),
        *block3d(l[4], l[5], (1, 6, 6)),
    )
    net.netfcaud = head(a[5], audio[1])
    net.netfclip = head(l[5], lip[1])
    return net.eval()


def load_syncnet(path: str | os.PathLike):
    import torch

    path = model_file(path, "SyncNet", HINT)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = build_syncnet(_widths(state, "aud"), _widths(state, "lip"))
        net.load_state_dict(state)
    except Exception as error:  # a wrong file fails in torch.load or load_state_dict, in many ways
        raise ModelError(f"{path.name} is not SyncNet's syncnet_v2.model ({type(error).__name__}: {str(error)[:80]}): {HINT}") from None
    return net


def mfcc(samples: np.ndarray, rate: int = 16_000) -> np.ndarray:
    """(13, N) MFCCs at 100 Hz, python_speech_features' `mfcc` defaults, on 16-bit-scaled samples.

    25 ms rectangular frames every 10 ms, pre-emphasis 0.97, 512-point FFT, 26 mel filters
    over 0..rate/2, DCT-II (orthonormal), lifter 22, coefficient 0 replaced by log energy.
    """
    signal = samples.astype(np.float64) * 32768.0
    signal = np.append(signal[0], signal[1:] - 0.97 * signal[:-1])
    length, step, nfft = int(0.025 * rate + 0.5), int(0.01 * rate + 0.5), 512
    count = 1 if len(signal) <= length else 1 + math.ceil((len(signal) - length) / step)
    signal = np.concatenate([signal, np.zeros((count - 1) * step + length - len(signal))])
    frames = signal[np.arange(length)[None] + step * np.arange(count)[:, None]]
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    eps = np.finfo(float).eps
    energy = np.maximum(power.sum(1), eps)
    bands = np.maximum(power @ _mel_filters(26, nfft, rate).T, eps)
    cepstra = dct(np.log(bands), type=2, axis=1, norm="ortho")[:, :13]
    cepstra *= 1 + 11.0 * np.sin(np.pi * np.arange(13) / 22)
    cepstra[:, 0] = np.log(energy)
    return cepstra.T.astype(np.float32)


def _mel_filters(count: int, nfft: int, rate: int) -> np.ndarray:
    """(count, nfft // 2 + 1) triangular filters on FFT bins, evenly spaced in mel."""
    mel = np.linspace(0, 2595 * np.log10(1 + (rate / 2) / 700), count + 2)
    bins = np.floor((nfft + 1) * (700 * (10 ** (mel / 2595) - 1)) / rate).astype(int)
    filters = np.zeros((count, nfft // 2 + 1))
    for j in range(count):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        filters[j, lo:mid] = (np.arange(lo, mid) - lo) / max(mid - lo, 1)
        filters[j, mid:hi] = (hi - np.arange(mid, hi)) / max(hi - mid, 1)
    return filters


def face_track(points: np.ndarray) -> np.ndarray:
    """(T, 3) smoothed (half-size, centre x, centre y) per frame from (T, 68, 2) landmarks."""
    boxes = np.concatenate([np.nanmin(points, axis=1), np.nanmax(points, axis=1)], axis=1) if len(points) else np.zeros((0, 4))
    boxes = np.stack([fill_gaps(boxes[:, i]) for i in range(4)], axis=1) if len(points) else boxes
    half = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / 2
    track = [half, (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2]
    return np.stack([medfilt(x, BOX_SMOOTHING) for x in track], axis=1)


def crop_face(frame: np.ndarray, half: float, cx: float, cy: float) -> np.ndarray:
    """(224, 224, 3) uint8 BGR crop of an RGB frame around one face-track entry."""
    pad = int(half * (1 + 2 * CROP_SCALE))
    padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    my, mx = cy + pad, cx + pad
    face = padded[int(my - half) : int(my + half * (1 + 2 * CROP_SCALE)), int(mx - half * (1 + CROP_SCALE)) : int(mx + half * (1 + CROP_SCALE))]
    return cv2.cvtColor(cv2.resize(face, (CROP_SIZE, CROP_SIZE)), cv2.COLOR_RGB2BGR)


def _frames_at_25(video: Path, fps: float):
    """(index in the source, RGB frame) at 25 fps: frames dropped or repeated by time."""
    target = 0
    for index, frame in enumerate(read_frames(video)):
        while target * fps / FPS < index + 1 - 1e-6:
            yield index, frame
            target += 1


def syncnet_scores(
    video: Path, points: np.ndarray, audio: AudioClip, fps: float, model: str | os.PathLike, *, progress: bool = False
) -> SyncNetResult:
    """Sync-C, Sync-D and offset of a video, by the published protocol (see the module's docstring)."""
    import torch

    net = load_syncnet(model)
    track = face_track(points)
    cepstra = torch.from_numpy(mfcc(audio.samples, audio.rate))
    windows = min(int(len(points) * FPS / fps), len(audio.samples) // (audio.rate // int(FPS))) - WINDOW
    if windows < 1 or not np.isfinite(track).all():
        raise ModelError(f"{video.name} is too short or has no face track for SyncNet (needs at least {WINDOW + 1} frames)")
    lip_features, audio_features = [], []
    crops: deque[np.ndarray] = deque(maxlen=WINDOW)
    batch: list[np.ndarray] = []
    made = 0
    with torch.inference_mode():
        frames = _frames_at_25(video, fps)
        for index, frame in tqdm(frames, total=windows + WINDOW - 1, unit="frame", desc="SyncNet", disable=not progress, leave=False):
            crops.append(crop_face(frame, *track[index]))
            if len(crops) < WINDOW:
                continue
            batch.append(np.stack(crops, axis=1).transpose(3, 1, 0, 2))  # (3, 5, H, W) BGR planes
            made += 1
            if len(batch) == BATCH or made == windows:
                lip_features.append(_lip_embedding(net, batch))
                batch = []
            if made == windows:
                break
        starts = range(0, windows * MFCC_PER_FRAME, MFCC_PER_FRAME)
        for first in range(0, len(starts), BATCH):
            chunk = torch.stack([cepstra[:, s : s + MFCC_PER_FRAME * WINDOW] for s in starts[first : first + BATCH]])[:, None]
            audio_features.append(net.netfcaud(net.netcnnaud(chunk).flatten(1)))
        lips, sound = torch.cat(lip_features), torch.cat(audio_features)
    return offset_and_confidence(lips, sound)


def _lip_embedding(net, batch: list[np.ndarray]):
    import torch

    x = torch.from_numpy(np.stack(batch).astype(np.float32))
    return net.netfclip(net.netcnnlip(x).flatten(1))


def offset_and_confidence(lips, sound) -> SyncNetResult:
    """The published offset search on (N, D) lip and audio embeddings of the same windows."""
    import torch

    n = min(len(lips), len(sound))
    lips, sound = lips[:n], sound[:n]
    padded = torch.nn.functional.pad(sound, (0, 0, MAX_OFFSET, MAX_OFFSET))  # zero embeddings beyond the ends
    span = 2 * MAX_OFFSET + 1
    distances = torch.stack([torch.nn.functional.pairwise_distance(lips[[i]].repeat(span, 1), padded[i : i + span]) for i in range(n)])
    mean = distances.mean(0)  # index j: audio window i + j - 15 against video window i
    best = int(torch.argmin(mean))
    smallest = float(mean[best])
    return SyncNetResult(
        offset_frames=MAX_OFFSET - best,
        sync_c=float(torch.median(mean)) - smallest,
        sync_d=smallest,
        distances=mean.flip(0).numpy().astype(np.float32),  # by offset -15..15
    )
