"""Speed and memory of the latentsync dub backend, stage by stage, on the device present.

    # a GPU machine with LatentSync's checkpoints/ folder (sd-vae-ft-mse/ inside), as released:
    python benchmarks/latentsync_speed.py --weights checkpoints --resolution 512
    # anywhere: a miniature random-weight model in the released layout
    python benchmarks/latentsync_speed.py --steps 4
    # the full-size architecture with random weights (speed does not depend on the values)
    python benchmarks/latentsync_speed.py --full-size --steps 1 --clips 1

Prints, per stage, the calls, seconds, seconds per generated video frame and peak memory:
loading, the Whisper front end, the face alignment, VAE encoding, every UNet call, the DDIM
steps' other work, VAE decoding, the paste-back, and the whole. Peak memory as in
hallo_speed.py (CUDA allocator peak, or the process's peak RSS per stage on a Linux CPU); the
UNet's peak over one (B·F, C0, h, w) feature map is printed too, the figure behind
loading.ACTIVATION_MAPS.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "latentsync"), str(ROOT / "tests")]

from hallo_speed import Meter  # noqa: E402

from talkinghead.audio.decode import load_audio  # noqa: E402
from talkinghead.dubbing.latentsync import backend, loading  # noqa: E402
from talkinghead.dubbing.latentsync.align import Aligner  # noqa: E402
from talkinghead.dubbing.latentsync.pipeline import CLIP_FRAMES, LatentSyncPipeline  # noqa: E402
from talkinghead.image import load_image  # noqa: E402
from talkinghead.devices import pick_device, pick_dtype  # noqa: E402

SD_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, norm_num_groups=32,
              down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)  # fmt: skip


def full_size_pipeline(device, dtype, resolution: int) -> LatentSyncPipeline:
    """The released architecture (UNet 1.27 B parameters, Whisper tiny, sd-vae-ft-mse's layout), random weights."""
    from diffusers import AutoencoderKL

    from talkinghead.dubbing.latentsync.unet import LatentSyncUNet3D
    from talkinghead.dubbing.latentsync.whisper import WhisperDims, WhisperEncoder

    return LatentSyncPipeline(LatentSyncUNet3D(), AutoencoderKL(**SD_VAE), WhisperEncoder(WhisperDims(80, 1500, 384, 6, 4)),
                              backend.mouth_mask(resolution), device=device, dtype=dtype)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, help="LatentSync's checkpoints/ folder (default: a miniature random model)")
    parser.add_argument("--full-size", action="store_true", help="the released architecture with random weights")
    parser.add_argument("--resolution", type=int, default=256, help="face side: 256 (1.5) or 512 (1.6)")
    parser.add_argument("--steps", type=int, default=20, help="DDIM steps per clip (released: 20)")
    parser.add_argument("--guidance", type=float, default=1.5)
    parser.add_argument("--cache-interval", type=int, default=1, help="DeepCache interval (inference.sh: 3)")
    parser.add_argument("--clips", type=int, default=2, help="clips of 16 frames to generate")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best present)")
    args = parser.parse_args()

    device = pick_device(args.device)
    meter = Meter(device)
    with tempfile.TemporaryDirectory() as scratch:
        with meter.stage("load"):
            if args.full_size:
                pipe, model = full_size_pipeline(device, pick_dtype(device, None), args.resolution), "full size, random weights"
            else:
                weights, model = args.weights, "released weights"
                if weights is None:
                    import latentsync_builders

                    weights = latentsync_builders.build_weights_dir(Path(scratch))
                    model = "miniature random weights (UNet widths 32)"
                pipe = backend.load_pipeline(weights, device=args.device, resolution=args.resolution)
        run(pipe, meter, args, model)


def run(pipe: LatentSyncPipeline, meter: Meter, args, model: str) -> None:
    frames = args.clips * CLIP_FRAMES
    samples = torch.from_numpy(load_audio(ROOT / "assets" / "speech.wav", max_duration=None).samples[: int(frames / 25 * 16000)])
    photo = load_image(ROOT / "assets" / "portrait.png")
    landmarks = _portrait_landmarks(photo)
    meter.wrap(pipe.unet, "forward", "unet")
    meter.wrap(pipe.vae, "encode", "vae encode")
    meter.wrap(pipe.vae, "decode", "vae decode")
    started = time.perf_counter()
    with meter.stage("whisper"):
        windows = pipe.audio_windows(samples, 25)
    generator = torch.Generator().manual_seed(0)
    noise = pipe.initial_noise(generator)
    aligner = Aligner(pipe.side)
    for c in range(args.clips):
        with meter.stage("align"):
            crops = [aligner.crop(photo, landmarks) for _ in range(CLIP_FRAMES)]
        batch = torch.from_numpy(np.stack([crop for crop, _ in crops])).permute(0, 3, 1, 2)
        with meter.stage("clip (all)"):
            faces = pipe.clip(batch, windows[c * CLIP_FRAMES : (c + 1) * CLIP_FRAMES], noise, generator, steps=args.steps,
                              guidance=args.guidance, cache_interval=args.cache_interval)  # fmt: skip
        with meter.stage("paste back"):
            for face, (_, to_crop) in zip(backend._to_uint8(faces), crops):
                backend._pasted(photo, face, to_crop, 1.0)
    total = time.perf_counter() - started
    print(f"latentsync on {pipe.device} ({str(pipe.dtype).removeprefix('torch.')}), {model}: {pipe.side}² faces, "
          f"{args.clips} clips × {CLIP_FRAMES} frames, {args.steps} steps, guidance {args.guidance}, cache interval {args.cache_interval}")  # fmt: skip
    print(f"{'stage':<12} {'calls':>5} {'seconds':>9} {'s/frame':>8} {'peak MiB':>9}")
    for name in meter.seconds:
        print(f"{name:<12} {meter.calls[name]:>5} {meter.seconds[name]:>9.2f} {meter.seconds[name] / frames:>8.3f} {meter.peak[name] / 2**20:>9.0f}")
    print(f"{'total':<12} {'':>5} {total:>9.2f} {total / frames:>8.3f}")
    c0 = pipe.unet.config.block_out_channels[0]
    element = torch.finfo(pipe.dtype).bits // 8
    feature_map = (2 if args.guidance > 1 else 1) * CLIP_FRAMES * c0 * (pipe.side // 8) ** 2 * element
    base = meter.peak["load"] if pipe.device.type == "cpu" else 0
    print(f"UNet peak over the loaded process: {(meter.peak['unet'] - base) / feature_map:.1f} feature maps of "
          f"(B·F, C0, h, w) (loading.ACTIVATION_MAPS = {loading.ACTIVATION_MAPS})")


def _portrait_landmarks(photo: np.ndarray) -> np.ndarray:
    from talkinghead.face.analysis import analyze_face

    return analyze_face(photo).face.landmarks


if __name__ == "__main__":
    main()
