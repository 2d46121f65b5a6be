"""Self-reenactment: the first frame of a talking video driven by the same video's tracked
motion, compared with the real frames.

    python benchmarks/reenact.py FOLDER              # every video in FOLDER (real talking videos)
    python benchmarks/reenact.py                     # generated clips (see below)
    python benchmarks/reenact.py FOLDER --out reenact.md

For each video: its first frame is the photo; `talkinghead motion --from-video` tracks the
video; the warp renderer renders the photo with that motion (all three levels, taken relative
to the first frame, since the photo is that frame); every
rendered frame is compared with the real frame of the same index, over the face region (the
real frame's MediaPipe landmark box × 1.2): PSNR (dB), SSIM, the mean distance of dlib's 68
landmarks (an independent detector) in % of the real face's outer eye-corner distance, and
dlib's identity distance (every 5th frame; below 0.6 is the same person); beside them the
floor of the first frame held still. Per video and averaged. Needs the eval extra (dlib).

Without a folder, the clips are generated (no real talking video ships with the project or
can be fetched here): the bundled portrait and Grace Hopper (matplotlib's sample) animated by
the warp renderer with the bundled speech. Such clips are what the warp renderer can
reproduce by construction, so their figures are an upper bound, not a measure on real video.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}


def generated(folder: Path) -> list[Path]:
    from matplotlib import cbook

    from talkinghead.api import animate

    out = []
    for name, photo in (("astronaut", ROOT / "assets" / "portrait.png"), ("hopper", Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))):
        path = folder / f"{name}.mp4"
        animate(photo, ROOT / "assets" / "speech.wav", path, progress=False, score=False, size=384, seed=1)
        out.append(path)
    return out


def reenact(video: Path) -> dict[str, float]:
    from talkinghead import AnimateConfig, Engine
    from talkinghead.eval.landmarks import EYE_OUTER_CORNERS, face_descriptor, landmarks_in_box
    from talkinghead.eval.reference_metrics import psnr, ssim
    from talkinghead.face.tracking import track_video
    from talkinghead.motion.from_video import track_motion
    from talkinghead.render.base import RenderRequest
    from talkinghead.types import AudioClip, MotionTrack
    from talkinghead.video.source import open_video

    source = open_video(video)
    info = source.info
    with track_video(source.frames(), fps=info.fps, size=info.size, expected=info.frame_count) as track:
        motion = track_motion(track)
        # The photo is the first frame: its own face is the track's first frame, so the motion
        # is taken relative to that frame (a track's 0 is the photo as it is).
        motion = MotionTrack(motion.fps, motion.lip - motion.lip[0], motion.expression - motion.expression[0], motion.pose - motion.pose[0])
        boxes = []
        for points, found in zip(track.landmarks, track.found):
            xy = np.asarray(points)[:468, :2]
            boxes.append(np.concatenate([xy.min(0), xy.max(0)]) if found else None)
    first = next(source.frames()).rgb()
    engine = Engine()
    config = AnimateConfig().replace(fps=info.fps)
    subject = engine.prepare(first, config)
    silence = AudioClip(np.zeros(round(motion.frame_count / info.fps * 16000), np.float32))
    request = RenderRequest(clip=silence, fps=info.fps, frame_count=motion.frame_count, motion=motion, options={})
    rows = {"psnr": [], "ssim": [], "lmd": [], "identity": [], "still_psnr": [], "still_ssim": []}
    for t, (fake, real) in enumerate(zip(subject.renderer.frames(subject.prepared, request, lambda *a: None), source.frames())):
        if boxes[t] is None:
            continue
        real = real.rgb()
        x0, y0, x1, y1 = boxes[t]
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.6 * max(x1 - x0, y1 - y0)
        a, b = int(max(0, cx - half)), int(max(0, cy - half))
        c, d = int(min(info.width, cx + half)), int(min(info.height, cy + half))
        rows["psnr"].append(psnr(fake[b:d, a:c], real[b:d, a:c]))
        rows["ssim"].append(ssim(fake[b:d, a:c], real[b:d, a:c]))
        # The floor: the first frame held still, against the same real frames.
        rows["still_psnr"].append(psnr(first[b:d, a:c], real[b:d, a:c]))
        rows["still_ssim"].append(ssim(first[b:d, a:c], real[b:d, a:c]))
        box = np.array([x0, y0 + 0.08 * (y1 - y0), x1, y1 - 0.04 * (y1 - y0)], np.float32)
        fake_face, real_face = landmarks_in_box(fake, box), landmarks_in_box(real, box)
        eyes = np.linalg.norm(real_face.points[EYE_OUTER_CORNERS[1]] - real_face.points[EYE_OUTER_CORNERS[0]])
        rows["lmd"].append(100 * float(np.linalg.norm(fake_face.points - real_face.points, axis=1).mean()) / eyes)
        if t % 5 == 0:
            rows["identity"].append(float(np.linalg.norm(face_descriptor(fake, fake_face) - face_descriptor(real, real_face))))
    return {k: float(np.mean(v)) for k, v in rows.items()} | {"frames": len(rows["psnr"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?", help="a folder of talking videos (default: generated clips)")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        videos = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in SUFFIXES) if args.folder else generated(Path(tmp))
        lines = ["| video | frames | PSNR (dB) | SSIM | landmark distance (% eye span) | identity distance | still first frame: PSNR, SSIM |", "|---|---|---|---|---|---|---|"]
        results = []
        for video in videos:
            r = reenact(video)
            results.append(r)
            lines.append(f"| {video.name} | {r['frames']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['lmd']:.2f} | {r['identity']:.3f} | {r['still_psnr']:.2f}, {r['still_ssim']:.3f} |")
            print(lines[-1], file=sys.stderr)
        mean = {k: np.mean([r[k] for r in results]) for k in ("psnr", "ssim", "lmd", "identity", "still_psnr", "still_ssim")}
        lines.append(f"| mean | {sum(r['frames'] for r in results)} | {mean['psnr']:.2f} | {mean['ssim']:.3f} | {mean['lmd']:.2f} | {mean['identity']:.3f} | {mean['still_psnr']:.2f}, {mean['still_ssim']:.3f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
