"""`python -m karyotrain evaluate (--checkpoint C | --model DIR) [--held-out N] [--real FILE.png ...]`

Runs the detector on N held-out synthetic spreads (seeds from HELD_OUT_SEEDS) and on annotated real images
(labelme JSON next to the PNG), and prints the paper's metrics (WCR, AER, Acc, Precision, Recall, F1, mAP, MR^-2,
CountExact, TP/FP/FN) as JSON; --json writes them, --draw DIR writes annotated PNGs of the real images.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .export import load_checkpoint, load_exported
from .metrics import evaluate
from .model import detect

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REAL = [REPO / "Tests" / "Fixtures" / "real" / "18-Y2087.145.O.png"]


def labelme_boxes(path: Path) -> np.ndarray:
    data = json.loads(path.read_text())
    out = []
    for s in data.get("shapes", []):
        p = np.asarray(s["points"], np.float64)
        out.append([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])
    return np.asarray(out, np.float64).reshape(-1, 4)


def load_grey(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("L"))


def draw(image, boxes, scores, thr, path):
    im = Image.fromarray(image).convert("RGB")
    d = ImageDraw.Draw(im)
    for b, s in zip(boxes.tolist(), scores.tolist()):
        if s >= thr:
            d.rectangle(b, outline=(255, 0, 0))
            d.text((b[0], b[1] - 10), f"{s:.2f}", fill=(255, 0, 0))
    im.save(path)


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m karyotrain evaluate")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint")
    src.add_argument("--model", help="exported model folder (config.json + model.safetensors)")
    ap.add_argument("--held-out", type=int, default=0, help="number of held-out synthetic spreads")
    ap.add_argument("--first-seed", type=int, default=None, help="default: the first HELD_OUT seed")
    ap.add_argument("--real", nargs="*", default=None, help="annotated PNGs (labelme JSON beside them)")
    ap.add_argument("--method", choices=["eg-nms", "nms", "soft-nms"], help="override postprocess.method")
    ap.add_argument("--score-threshold", type=float, default=0.5)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--draw", help="write annotated PNGs of the real images here")
    ap.add_argument("--size", help="held-out spread size WxH (default: the training data size)")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    model = load_checkpoint(a.checkpoint) if a.checkpoint else load_exported(a.model)
    if a.method:
        model.cfg["postprocess"]["method"] = a.method
    report = {"method": model.cfg["postprocess"]["method"], "model": a.checkpoint or a.model}
    if a.held_out:
        from .synth import HELD_OUT_SEEDS, SpreadConfig, generate_spread
        d = dict(model.cfg.get("data", {"width": 1600, "height": 1200, "synth": {}}))
        if a.size:
            d["width"], d["height"] = (int(v) for v in a.size.lower().split("x"))
        first = HELD_OUT_SEEDS.start if a.first_seed is None else a.first_seed
        items, t0 = [], time.time()
        for i in range(a.held_out):
            s = generate_spread(first + i, SpreadConfig(width=d.get("width", 1600), height=d.get("height", 1200),
                                                        **d.get("synth", {})))
            r = detect(model, s.image)
            items.append((r["boxes"].numpy(), r["scores"].numpy(), s.boxes))
        res = evaluate(items, a.score_threshold)
        res["seconds_per_image"] = (time.time() - t0) / a.held_out
        res.pop("per_image")
        report["synthetic"] = res
    reals = DEFAULT_REAL if a.real is None else [Path(p) for p in a.real]
    report["real"] = {}
    for p in reals:
        p = Path(p)
        img = load_grey(p)
        r = detect(model, img)
        entry = {"count": r["count"], "factor": r["factor"]}
        truth = p.with_suffix(".json")
        if truth.exists():
            res = evaluate([(r["boxes"].numpy(), r["scores"].numpy(), labelme_boxes(truth))], a.score_threshold)
            res.pop("per_image")
            entry.update(res)
        if a.draw:
            Path(a.draw).mkdir(parents=True, exist_ok=True)
            draw(img, r["boxes"], r["scores"], a.score_threshold, Path(a.draw) / f"{p.stem}.annotated.png")
        report["real"][p.name] = entry
    text = json.dumps(report, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    return 0
