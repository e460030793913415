"""Side-by-side sheet of generated and real spreads: `python -m karyotrain.synth.sheet --real A.png B.png --out X`.

Generated spreads are shown at the real exports' chromosome scale (1600x1200 resized to 1017 px wide, the
1017x896 CytoVision export's scale), as whole spreads and as 1:1 crops of their centres.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .spread import SpreadConfig, generate_spread

TILE_W, TILE_H = 508, 448  # half of a 1017x896 export
CROP = 300


def _centre_crop(im: Image.Image, centre: tuple[int, int]) -> Image.Image:
    cx = min(max(centre[0], CROP // 2), im.width - CROP // 2)
    cy = min(max(centre[1], CROP // 2), im.height - CROP // 2)
    return im.crop((cx - CROP // 2, cy - CROP // 2, cx + CROP // 2, cy + CROP // 2))


def _dark_centre(im: Image.Image) -> tuple[int, int]:
    a = np.asarray(im, np.float32)
    dark = a < np.percentile(a, 3)
    ys, xs = np.nonzero(dark)
    return int(np.median(xs)), int(np.median(ys))


def make_sheet(real: list[Path], seeds: list[int], out: Path) -> None:
    """Writes a sheet: real spreads (left) and generated ones, whole (top rows) and 1:1 centre crops (bottom)."""
    items = []
    for p in real:
        im = Image.open(p).convert("L")
        items.append((f"REAL {p.name}", im, _dark_centre(im)))
    for seed in seeds:
        s = generate_spread(seed, SpreadConfig())
        f = 1017 / s.image.shape[1]
        im = Image.fromarray(s.image).resize((1017, round(s.image.shape[0] * f)), Image.BILINEAR)
        b = s.boxes * f
        centre = (int(np.median((b[:, 0] + b[:, 2]) / 2)), int(np.median((b[:, 1] + b[:, 3]) / 2)))
        items.append((f"synthetic seed {seed} ({s.meta['count']})", im, centre))
    cols = 4
    rows = (len(items) + cols - 1) // cols
    sheet = Image.new("L", (cols * TILE_W, rows * (TILE_H + CROP + 20)), 255)
    draw = ImageDraw.Draw(sheet)
    for i, (label, im, centre) in enumerate(items):
        x = (i % cols) * TILE_W
        y = (i // cols) * (TILE_H + CROP + 20)
        whole = im.copy()
        whole.thumbnail((TILE_W - 8, TILE_H - 8), Image.LANCZOS)
        sheet.paste(whole, (x + 4, y + 14))
        sheet.paste(_centre_crop(im, centre), (x + (TILE_W - CROP) // 2, y + TILE_H + 14))
        draw.text((x + 6, y + 1), label, fill=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m karyotrain.synth.sheet")
    p.add_argument("--real", type=Path, nargs="*", default=[])
    p.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    make_sheet(args.real, args.seeds, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
