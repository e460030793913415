"""How the count holds when another lab's export changes the picture: real spreads counted as they are and after
what a second lab's microscope or CytoVision export does to them, with the PyTorch reference of one exported model.

    python3 Benchmarks/lab_shift.py --model Models/default --voc ../shared/data/tseng \
        --list Training/splits/tseng-calibration.txt [--images 130] [--conditions original,white,pale+white]

Conditions: `white` (the background flattened and removed to white as CytoVision does, karyotrain's augmentation
at a fixed cut of 0.9), `pale` (every pixel pulled half way to the background level: a weaker stain or a brighter
lamp), `pale+white`, `blur` (Gaussian, sigma 1.5 px), `jpeg` (quality 35) and `small` (the export at 0.6x, boxes
with it). Per condition: exact-count rate, mean abs(count - truth), mean signed error, AER and F1. With
`--thresholds 0.25,0.26,...` each condition also gets the count threshold that `karyotrain evaluate` would choose on
it (lowest mean abs error), the threshold a lab exporting that way would calibrate.
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Training"))

from karyotrain.data import background_removed, load_voc_sample, voc_ids
from karyotrain.evaluate import chosen_count_threshold, count_report, voc_threshold_row
from karyotrain.export import load_exported
from karyotrain.metrics import evaluate
from karyotrain.model import detect


def pale(img: np.ndarray) -> np.ndarray:
    b = float(np.percentile(img, 90))
    return np.clip(b - (b - img.astype(np.float32)) * 0.5, 0, 255).astype(np.uint8)


def white(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(background_removed(img.astype(np.float32) / 255.0, 0.9) * 255.0), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=35)
    return np.array(Image.open(buf))


def small(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    return np.array(Image.fromarray(img).resize((round(w * 0.6), round(h * 0.6)), Image.BOX))


CONDITIONS = {
    "original": (lambda i: i, 1.0),
    "white": (white, 1.0),
    "pale": (pale, 1.0),
    "pale+white": (lambda i: white(pale(i)), 1.0),
    "blur": (lambda i: np.clip(ndimage.gaussian_filter(i.astype(np.float32), 1.5), 0, 255).astype(np.uint8), 1.0),
    "jpeg": (jpeg, 1.0),
    "small": (small, 0.6),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--voc", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--images", type=int, default=130)
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--score-threshold", type=float, default=None, help="default: the model's count threshold")
    ap.add_argument("--thresholds", help="comma-separated score thresholds: report the chosen one per condition")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_exported(a.model)
    threshold = a.score_threshold if a.score_threshold is not None else model.cfg["postprocess"]["count_threshold"]
    root = Path(a.voc)
    ids = voc_ids(root, a.list)[: a.images]
    chosen = a.conditions.split(",")
    found = {c: [] for c in chosen}
    for ident in ids:
        image, truth, _ = load_voc_sample(root, ident)
        for c in chosen:
            change, box_scale = CONDITIONS[c]
            r = detect(model, change(image))
            found[c].append((r["boxes"].numpy(), r["scores"].numpy(), truth.astype(np.float64) * box_scale))
    print(f"{len(ids)} spreads of {a.list}, {a.model}, count threshold {threshold}")
    print("| condition | exact count | mean abs error | mean error | AER | F1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for c in chosen:
        m, counts = evaluate(found[c], threshold), count_report(found[c], threshold)
        print(f"| {c} | {counts['exact']:.1f}% | {counts['mean_abs_error']:.2f} | {counts['mean_error']:+.2f} | "
              f"{m['AER']:.2f} | {m['F1']:.2f} |")
    if a.thresholds:
        print("| condition | chosen count threshold | exact count | mean abs error | mean error there |")
        print("| --- | --- | --- | --- | --- |")
        for c in chosen:
            rows = {f"{t:g}": voc_threshold_row(found[c], t) for t in map(float, a.thresholds.split(","))}
            t = chosen_count_threshold(rows)
            counts = count_report(found[c], float(t))
            print(f"| {c} | {t} | {counts['exact']:.1f}% | {counts['mean_abs_error']:.2f} | "
                  f"{counts['mean_error']:+.2f} |")


if __name__ == "__main__":
    main()
