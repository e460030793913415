"""`python -m karyotrain synth`: writes synthetic spreads as PNG + COCO JSON (+ labelme JSON) and a summary."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .spread import HELD_OUT_SEEDS, SpreadConfig, generate_spread


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m karyotrain synth",
                                description="Generate synthetic G-banded metaphase spreads with exact boxes.")
    p.add_argument("--count", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, required=True,
                   help=f"first seed; training uses 0..{HELD_OUT_SEEDS.start - 1}, held-out test sets "
                        f"{HELD_OUT_SEEDS.start}..{HELD_OUT_SEEDS.stop - 1}")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=1200)
    p.add_argument("--chromosomes", type=int, default=None,
                   help="chromosomes per image (default: 46 mostly, 45 or 47 now and then)")
    p.add_argument("--overlap-target", type=float, default=SpreadConfig.overlap_target,
                   help="mean share of chromosomes in the paper's Eq. 14 overlap subset")
    p.add_argument("--no-labelme", action="store_true", help="skip the per-image labelme JSON files")
    return p


def summarize(records: list[dict]) -> dict:
    """Objects per image, Eq. 14 overlap share and box size distribution of a generated set."""
    counts = np.array([r["count"] for r in records])
    flags = np.concatenate([np.array(r["overlap"], bool) for r in records]) if records else np.zeros(0, bool)
    boxes = np.concatenate([np.asarray(r["boxes"], np.float64).reshape(-1, 4) for r in records]) \
        if records else np.zeros((0, 4))
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    long_side = np.maximum(w, h)
    area = w * h
    pct = [0, 5, 25, 50, 75, 95, 100]

    def q(a):
        return {f"p{p}": float(np.percentile(a, p)) for p in pct} if len(a) else {}

    hist_counts = {int(c): int(n) for c, n in zip(*np.unique(counts, return_counts=True))}
    return {
        "images": len(records),
        "objects": int(counts.sum()),
        "objects_per_image": {"mean": float(counts.mean()) if len(counts) else 0.0, "histogram": hist_counts},
        "overlap": {"tau": 0.5, "overlapping": int(flags.sum()),
                    "share": float(flags.mean()) if len(flags) else 0.0,
                    "per_image_share": q(np.array([np.mean(r["overlap"]) for r in records]))},
        "box_long_side_px": q(long_side),
        "box_short_side_px": q(np.minimum(w, h)),
        "box_sqrt_area_px": q(np.sqrt(area)),
    }


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.count < 1:
        print("--count must be at least 1", file=sys.stderr)
        return 2
    if args.chromosomes is not None and args.chromosomes < 1:
        print("--chromosomes must be at least 1", file=sys.stderr)
        return 2
    if args.width < 64 or args.height < 64:
        print("--width and --height must be at least 64 px", file=sys.stderr)
        return 2
    if args.seed < 0 or args.seed + args.count > HELD_OUT_SEEDS.stop:
        print(f"seeds must lie in 0..{HELD_OUT_SEEDS.stop - 1}", file=sys.stderr)
        return 2
    config = SpreadConfig(width=args.width, height=args.height, count=args.chromosomes,
                          overlap_target=args.overlap_target)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    coco = {"info": {"description": "KaryoCount synthetic metaphase spreads", "seed": args.seed},
            "images": [], "annotations": [], "categories": [{"id": 1, "name": "chromosome"}]}
    records = []
    start = time.perf_counter()
    cpu_start = time.process_time()
    gen_cpu = 0.0
    ann_id = 1
    for k in range(args.count):
        seed = args.seed + k
        t0 = time.process_time()
        spread = generate_spread(seed, config)
        gen_cpu += time.process_time() - t0
        name = f"syn-{seed:010d}.png"
        Image.fromarray(spread.image).save(out / name, compress_level=1)
        H, W = spread.image.shape
        coco["images"].append({"id": k + 1, "file_name": name, "width": W, "height": H, "seed": seed})
        shapes = []
        for i, b in enumerate(spread.boxes.tolist()):
            x1, y1, x2, y2 = b
            coco["annotations"].append({
                "id": ann_id, "image_id": k + 1, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1), "iscrowd": 0,
                "chromosome": spread.meta["chromosomes"][i], "overlap": spread.meta["overlap"][i]})
            ann_id += 1
            shapes.append({"label": "chromos", "points": [[x1, y1], [x2, y2]], "group_id": None,
                           "shape_type": "rectangle", "flags": {}})
        if not args.no_labelme:
            labelme = {"version": "4.5.7", "flags": {}, "shapes": shapes, "imagePath": name, "imageData": None,
                       "imageHeight": H, "imageWidth": W}
            (out / name.replace(".png", ".json")).write_text(json.dumps(labelme))
        records.append({"count": spread.meta["count"], "overlap": spread.meta["overlap"],
                        "boxes": spread.boxes.tolist()})
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    (out / "annotations.coco.json").write_text(json.dumps(coco))
    summary = summarize(records)
    summary["seconds"] = elapsed
    summary["images_per_second"] = args.count / elapsed
    summary["cpu_seconds_per_image"] = cpu / args.count  # one core; PNG and JSON writing included
    summary["generate_cpu_seconds_per_image"] = gen_cpu / args.count  # generate_spread alone
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    s = summary
    print(f"{s['images']} images, {s['objects']} chromosomes in {elapsed:.1f} s ({s['images_per_second']:.2f}/s, "
          f"PNG writing included) -> {out}")
    print(f"CPU per image: {summary['generate_cpu_seconds_per_image'] * 1000:.0f} ms generating, "
          f"{summary['cpu_seconds_per_image'] * 1000:.0f} ms with writing "
          f"({1 / summary['generate_cpu_seconds_per_image']:.1f} images/s per core)")
    print(f"objects per image: mean {s['objects_per_image']['mean']:.2f}, histogram "
          f"{s['objects_per_image']['histogram']}")
    print(f"overlap (Eq. 14, tau 0.5): {s['overlap']['overlapping']} of {s['objects']} = "
          f"{100 * s['overlap']['share']:.1f}%")
    ls = s["box_long_side_px"]
    print("box long side px: " + ", ".join(f"{k} {v:.0f}" for k, v in ls.items()))
    return 0
