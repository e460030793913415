"""What one working scale per case buys: real spreads counted at their own chromosome width, at the running median
of their case's widths (the daemon's `case_chromosome_width`) and at the median of the whole case (`karyocount
count`), with the PyTorch reference of one exported model.

    python3 Benchmarks/case_width.py --model Models/default --voc ../shared/data/tseng --list val.txt \
        [--images 200] [--case-size 10] [--score-threshold 0.3]

The spreads of the list, in its order, are grouped into "cases" of `--case-size` (one lab, one microscope); the
running median of a cell is taken over the widths of its case's cells before it and its own.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Training"))

from karyotrain.data import load_voc_sample, voc_ids
from karyotrain.evaluate import count_report
from karyotrain.export import load_exported
from karyotrain.metrics import evaluate
from karyotrain.model import detect
from karyotrain.scale import estimate_chromosome_width, working_factor

RULES = ("own", "running", "case")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--voc", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--case-size", type=int, default=10)
    ap.add_argument("--score-threshold", type=float, default=None, help="default: the model's count threshold")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_exported(a.model)
    threshold = a.score_threshold if a.score_threshold is not None else model.cfg["postprocess"]["count_threshold"]
    root = Path(a.voc)
    ids = voc_ids(root, a.list)[: a.images]
    found = {rule: [] for rule in RULES}
    for start in range(0, len(ids), a.case_size):
        cells = [load_voc_sample(root, i) for i in ids[start:start + a.case_size]]
        widths = [estimate_chromosome_width(image) for image, _, _ in cells]
        measured = [w for w in widths if w is not None]
        for k, (image, truth, _) in enumerate(cells):
            before = [w for w in widths[: k + 1] if w is not None]
            chosen = {"own": widths[k], "running": float(np.median(before)) if before else None,
                      "case": float(np.median(measured)) if measured else None}
            for rule in RULES:
                r = detect(model, image, factor=working_factor(image, model.cfg["input"], width=chosen[rule]))
                found[rule].append((r["boxes"].numpy(), r["scores"].numpy(), truth.astype(np.float64)))
    print(f"{len(ids)} spreads in cases of {a.case_size}, count threshold {threshold}")
    for rule in RULES:
        m, counts = evaluate(found[rule], threshold), count_report(found[rule], threshold)
        print(f"{rule:8s} exact {counts['exact']:5.1f}%  mean abs error {counts['mean_abs_error']:.2f}  "
              f"AER {m['AER']:.2f}  F1 {m['F1']:.2f}")


if __name__ == "__main__":
    main()
