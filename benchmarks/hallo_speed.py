"""Speed and memory of the hallo backend, stage by stage, on the device present.

    # a GPU machine with Hallo's released weights, at the published size and settings:
    python benchmarks/hallo_speed.py --weights pretrained_models --size 512
    # anywhere (CPU included): a miniature random-weight model in the released layout
    python benchmarks/hallo_speed.py --steps 4

Prints, per stage, the calls, seconds, seconds per generated video frame and peak memory:
loading; portrait (face embedding, masks, face tokens); speech (vocal separation, wav2vec2);
ReferenceNet; denoising (every UNet call); VAE decoding; and the whole `frames()` run.
Peak memory is the CUDA allocator's peak on a GPU, the process's peak RSS (VmHWM, reset per
stage) on a Linux CPU, and the driver's allocation after the stage on Apple MPS.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "hallo")]

from talkinghead.audio.decode import load_audio  # noqa: E402
from talkinghead.config import FaceConfig  # noqa: E402
from talkinghead.image import load_image  # noqa: E402
from talkinghead.devices import pick_device  # noqa: E402
from talkinghead.render.hallo import loading  # noqa: E402
from talkinghead.render.hallo.pipeline import CLIP_FRAMES, HalloPipeline  # noqa: E402
from talkinghead.types import AudioClip  # noqa: E402


class Meter:
    """Seconds and peak memory per named stage, summed (time) and maxed (memory) over calls."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self.peak: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def stage(self, name: str):
        self._sync()
        self._reset_peak()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] += time.perf_counter() - start
            self.peak[name] = max(self.peak[name], self._read_peak())
            self.calls[name] += 1

    def wrap(self, owner, attribute: str, name: str) -> None:
        """Route owner.attribute(...) through `stage(name)`."""
        original = getattr(owner, attribute)

        def measured(*args, **kwargs):
            with self.stage(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, measured)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def _reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.device.type == "cpu":
            try:  # Linux: "5" resets the peak resident set size of this process
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                pass

    def _read_peak(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device)
        if self.device.type == "mps":
            return torch.mps.driver_allocated_memory()
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0


def speech(seconds: float) -> AudioClip:
    """The first `seconds` of the bundled speech sample."""
    clip = load_audio(ROOT / "assets" / "speech.wav", max_duration=None)
    return AudioClip(samples=clip.samples[: int(seconds * clip.rate)], rate=clip.rate)


def portrait(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The bundled portrait resized to `size`, with face-like landmarks (speed does not depend on
    where they are)."""
    image = cv2.resize(load_image(ROOT / "assets" / "portrait.png"), (size, size), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    points = size * (np.array([0.5, 0.42]) + rng.uniform(-0.18, 0.18, (478, 2)))
    return image, np.hstack([points, np.zeros((478, 1))]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, help="Hallo's pretrained_models/ folder (default: a miniature random model)")
    parser.add_argument("--size", type=int, help="image side (default: the model's native size)")
    parser.add_argument("--steps", type=int, default=40, help="DDIM steps per clip (published: 40)")
    parser.add_argument("--cfg-scale", type=float, default=3.5)
    parser.add_argument("--clips", type=int, default=2, help="clips of 16 frames to generate")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best present)")
    parser.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], help="default: float16 on GPUs, float32 on CPU")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        weights, model = args.weights, "released weights"
        if weights is None:
            import hallo_builders

            weights, model = hallo_builders.build_weights_dir(Path(scratch) / "pretrained_models", separator=True), "miniature random weights"
        device = pick_device(args.device)
        meter = Meter(device)
        with meter.stage("load"):
            pipe = HalloPipeline.from_pretrained(weights, device=args.device, dtype=getattr(torch, args.dtype) if args.dtype else None)
        run(pipe, meter, args, model)


def run(pipe: HalloPipeline, meter: Meter, args, model: str) -> None:
    size = args.size or pipe.native_size
    frames = args.clips * CLIP_FRAMES
    audio = speech(frames / 25.0)
    image, landmarks = portrait(size)
    meter.wrap(pipe, "encode_portrait", "portrait")
    if pipe.separator is not None:
        meter.wrap(pipe, "separator", "speech: vocal separation")
    meter.wrap(pipe, "audio_encoder", "speech: wav2vec2")  # both inside pipe.encode_speech
    meter.wrap(pipe.net.reference_unet, "forward", "ReferenceNet")
    meter.wrap(pipe.net.denoising_unet, "forward", "denoising (UNet calls)")
    meter.wrap(pipe, "decode", "VAE decoding")
    with meter.stage("frames() total"):
        produced = sum(1 for _ in pipe.frames(image, landmarks, audio, face_expand_ratio=FaceConfig.face_expand_ratio, steps=args.steps, cfg_scale=args.cfg_scale, fps=25))
    assert produced == frames

    base = pipe.net.denoising_unet.config.block_out_channels[0]
    estimate = loading.estimate_memory(0, size, base, pipe.dtype, CLIP_FRAMES)
    print(f"device {pipe.device} ({str(pipe.dtype).removeprefix('torch.')}), {model}, {size}×{size}, "
          f"{frames} frames ({args.clips} clips), {args.steps} steps, cfg {args.cfg_scale}, torch threads {torch.get_num_threads()}")
    print(f"{'stage':28s} {'calls':>5s} {'seconds':>9s} {'s/frame':>9s} {'peak MiB':>9s}")
    for name in meter.seconds:
        seconds = meter.seconds[name]
        print(f"{name:28s} {meter.calls[name]:5d} {seconds:9.3f} {seconds / frames:9.4f} {meter.peak[name] / 2**20:9.1f}")
    print(f"estimated activation peak of a denoising step: {estimate.activations / 2**20:.1f} MiB (loading.estimate_memory)")


if __name__ == "__main__":
    main()
