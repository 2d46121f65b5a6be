"""Contact sheet of the warp renderer's mouth shapes on portraits of different kinds.

Rows: the portraits of benchmarks/mouth_judge.py (photos closed, parted and smiling, a
painting, a drawing, a 3D character). Columns: the photo's own mouth, then the rendered rest
(--rest closed), "m", "ah", "ee", "oo", "f" and "th", each its viseme's shape at normal effort.
Every crop is at the photo's own resolution, enlarged by a whole factor (nearest pixel) so
the rows come out about the same height: nothing is smoothed away.

    PYTHONPATH=src python benchmarks/mouth_sheet.py [-o docs/mouth_sheet.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from mouth_judge import PORTRAITS

from talkinghead.face import landmarks as lm
from talkinghead.face.analysis import analyze_face
from talkinghead.image import load_image
from talkinghead.motion.visemes import BY_NAME, rest_viseme
from talkinghead.render.warp.renderer import prepare, render_region
from talkinghead.types import EXPRESSION_CHANNELS, POSE_CHANNELS

COLUMNS = {
    "rest": rest_viseme("closed"),
    "m": BY_NAME["bilabial"],
    "ah": BY_NAME["open"],
    "ee": BY_NAME["wide"],
    "oo": BY_NAME["round"],
    "f": BY_NAME["labiodental"],
    "th": BY_NAME["dental"],
}
ROW_HEIGHT = 120  # pixels a row aims at once enlarged
LABEL_HEIGHT = 22


def mouth_box(points: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 around the lips, with room for a jaw dropping and lips spreading."""
    lips = points[list(lm.LIPS_OUTER_UPPER + lm.LIPS_OUTER_LOWER), :2]
    centre, width = lips.mean(0), float(np.ptp(lips[:, 0]))
    x0, y0 = (centre - [0.8 * width, 0.45 * width]).astype(int)
    x1, y1 = (centre + [0.8 * width, 0.6 * width]).astype(int)
    return x0, y0, x1, y1


def row(path: Path) -> list[np.ndarray]:
    """The crops of one portrait: its own mouth, then each column's."""
    photo = load_image(path)
    portrait = analyze_face(photo)
    prepared = prepare(portrait)
    rx0, ry0, rx1, ry1 = prepared.rig.region
    x0, y0, x1, y1 = mouth_box(portrait.face.landmarks)
    crops = [photo[y0:y1, x0:x1]]
    for viseme in COLUMNS.values():
        frame = photo.copy()
        frame[ry0:ry1, rx0:rx1] = render_region(
            prepared, np.asarray(viseme.shape, np.float32), np.zeros(len(EXPRESSION_CHANNELS), np.float32), np.zeros(len(POSE_CHANNELS), np.float32),
            hold_photo_gap=True,  # as animate draws it by default (--rest photo)
        )
        crops.append(frame[y0:y1, x0:x1])
    scale = max(1, round(ROW_HEIGHT / crops[0].shape[0] + 0.2))
    return [cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for c in crops]


def _labelled(crop: np.ndarray, text: str, width: int) -> np.ndarray:
    cell = np.full((crop.shape[0] + LABEL_HEIGHT, width, 3), 255, np.uint8)
    cell[LABEL_HEIGHT:, : crop.shape[1]] = crop[:, :width]
    cv2.putText(cell, text, (4, LABEL_HEIGHT - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    return cell


def sheet() -> np.ndarray:
    rows = {name: row(path) for name, (_, path) in PORTRAITS.items()}
    width = max(c.shape[1] for crops in rows.values() for c in crops)
    lines = []
    for name, crops in rows.items():
        labels = [name] + list(COLUMNS)
        cells = [_labelled(c, label if i else f"{label}: photo", width) for i, (c, label) in enumerate(zip(crops, labels))]
        height = max(c.shape[0] for c in cells)
        lines.append(np.hstack([np.pad(c, ((0, height - c.shape[0]), (0, 2), (0, 0)), constant_values=255) for c in cells]))
    return np.vstack(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/mouth_sheet.png"))
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    image = sheet()
    cv2.imwrite(str(args.output), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.output}: {image.shape[1]}x{image.shape[0]}, {args.output.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
