"""The intensity range rule (MODEL.md step 2a): an image whose background level or chromosome contrast lies outside
the range the model was trained on is brought into it by one linear map of its grey levels.

Another lab's export can be paler (a weaker stain, a brighter lamp) or have its background removed to white; a
model trained on one lab's spreads misses pale chromosomes. The levels are measured on the source image: Otsu's
threshold t splits it, the background level B is the median of the pixels above t, the chromosome ("ink") level K
the median of those at or below it, and the contrast is C = max(B - K, 1). With B' and C' the nearest values inside
the model's `input.intensity_range`, every grey level x becomes B' - (C' / C) (B - x): an image inside the range
is left as it is.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from .scale import as_grey, otsu_threshold


def levels(image):
    """(background level, ink level) of a grey image (0..255), or None for a flat image."""
    g = as_grey(image)
    t = otsu_threshold(g)
    if t is None:
        return None
    return float(np.median(g[g > t])), float(np.median(g[g <= t]))


def linear_map(image, input_cfg: dict):
    """(gain, offset) with which grey level x becomes gain * x + offset; (1, 0) without `intensity_range`."""
    bounds = input_cfg.get("intensity_range")
    measured = levels(image) if bounds else None
    if measured is None:
        return 1.0, 0.0
    background, ink = measured
    contrast = max(background - ink, 1.0)
    lo, hi = bounds["background"]
    target_background = min(max(background, lo), hi)
    lo, hi = bounds["contrast"]
    gain = min(max(contrast, lo), hi) / contrast
    return gain, target_background - gain * background


def measure_range(images, low: float = 5.0, high: float = 95.0) -> dict:
    """`input.intensity_range` of a training set: the 5th to 95th percentiles of its background levels and
    contrasts."""
    found = [m for m in (levels(image) for image in images) if m is not None]
    background = np.array([b for b, _ in found])
    contrast = np.array([max(b - k, 1.0) for b, k in found])
    return {"background": [round(float(np.percentile(background, low)), 2), round(float(np.percentile(background, high)), 2)],
            "contrast": [round(float(np.percentile(contrast, low)), 2), round(float(np.percentile(contrast, high)), 2)]}


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m karyotrain intensity",
                                 description="Measures `input.intensity_range` on the spreads a model was trained on.")
    ap.add_argument("--voc", required=True, help="a Pascal VOC folder, e.g. ../shared/data/tseng")
    ap.add_argument("--list", required=True, help="its list of training IDs")
    ap.add_argument("--every", type=int, default=1, help="use every n-th ID of the list")
    ap.add_argument("--model", help="exported model folder whose config.json gets the range")
    a = ap.parse_args(argv)
    from .data import load_grey, voc_ids, voc_image

    root = Path(a.voc)
    ids = voc_ids(root, a.list)[:: a.every]
    found = measure_range(load_grey(voc_image(root, i)) for i in ids)
    print(json.dumps({"spreads": len(ids), "intensity_range": found}))
    if a.model:
        path = Path(a.model) / "config.json"
        cfg = json.loads(path.read_text())
        cfg["input"]["intensity_range"] = found
        path.write_text(json.dumps(cfg, indent=1) + "\n")
    return 0
