"""`python -m karyotrain evaluate (--checkpoint C | --model DIR) [--held-out N] [--real FILE.png ...]`

Runs the detector on N held-out synthetic spreads (seeds from HELD_OUT_SEEDS) and on annotated real images
(labelme JSON next to the PNG), and prints the paper's metrics (WCR, AER, Acc, Precision, Recall, F1, mAP, MR^-2,
CountExact, TP/FP/FN) as JSON; --json writes them, --draw DIR writes annotated PNGs of the real images.
"""

import argparse
import functools
import json
import multiprocessing
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .data import load_grey, load_voc_sample, voc_ids
from .export import load_checkpoint, load_exported
from .frame import inside_frame
from .metrics import class_report, evaluate
from .model import detect
from .scale import working_factor

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REAL = [REPO / "Tests" / "Fixtures" / "real" / "18-Y2087.145.O.png"]
METHODS = ["eg-nms", "nms", "soft-nms"]


def detect_methods(model, image, methods, device="cpu"):
    """Runs the network once and post-processes its candidates with each method: {method: (boxes, scores)}. The
    model's own method gives its full output (rescored where it has a rescorer, fitted on that method's output)."""
    trace = {}
    r = detect(model, image, trace=trace, device=device)
    h0, w0 = np.asarray(image).shape[:2]
    h1, w1 = trace["size"]
    scale64 = torch.tensor([w1 / w0, h1 / h0, w1 / w0, h1 / h0], dtype=torch.float64)
    scale = scale64.float()  # the same float32 values as built from the Python floats directly
    cand = trace["candidates"]
    boxes, scores, emb = (trace[k][cand].cpu() for k in ("box_boxes", "box_scores", "embeddings"))
    field = trace["field"]
    out = {}
    saved = model.cfg["postprocess"]["method"]
    try:
        for m in methods:
            if m == saved:
                out[m] = (r["boxes"].numpy(), r["scores"].numpy())
                continue
            model.cfg["postprocess"]["method"] = m
            idx, s = model.postprocess(boxes, scores, emb)
            keep = inside_frame(boxes[idx].double() / scale64, field, w0, h0)
            out[m] = ((boxes[idx] / scale).numpy()[keep], s.numpy()[keep])
    finally:
        model.cfg["postprocess"]["method"] = saved
    return out, r



def labelme_boxes(path: Path) -> np.ndarray:
    data = json.loads(path.read_text())
    out = []
    for s in data.get("shapes", []):
        p = np.asarray(s["points"], np.float64)
        out.append([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])
    return np.asarray(out, np.float64).reshape(-1, 4)


def coco_samples(path: Path):
    """(grey image, boxes x1 y1 x2 y2) for each image of a COCO file, in the file's order."""
    data = json.loads(path.read_text())
    boxes = {}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        boxes.setdefault(ann["image_id"], []).append([x, y, x + w, y + h])
    for im in data["images"]:
        yield load_grey(path.parent / im["file_name"]), np.asarray(boxes.get(im["id"], []), np.float64).reshape(-1, 4)


def voc_samples(root: Path, listing: str):
    """(grey image, boxes, class names, ID) for each ID of a VOC folder's list file (e.g. tseng val.txt), in the
    list's order."""
    for ident in voc_ids(root, listing):
        image, boxes, names = load_voc_sample(root, ident)
        yield image, boxes.astype(np.float64), names, ident


def count_report(items, score_threshold: float) -> dict:
    """Counting figures a lab reads: exact-count rate, mean abs(count - truth), mean (count - truth), the histogram of
    count - truth, and the same for the cells whose truth is not 46 (they must not be pulled toward 46)."""
    def summary(pairs):
        errors = [c - t for c, t in pairs]
        hist = {f"{e:+d}": k for e, k in sorted(Counter(errors).items())}
        n = max(len(errors), 1)
        return {"images": len(errors), "exact": 100 * sum(e == 0 for e in errors) / n,
                "mean_abs_error": sum(abs(e) for e in errors) / n, "mean_error": sum(errors) / n,
                "error_histogram": hist}
    pairs = [(int((np.asarray(s) >= score_threshold).sum()), len(t)) for _, s, t in items]
    out = summary(pairs)
    out["not_46"] = summary([p for p in pairs if p[1] != 46])
    out["per_truth"] = {str(t): summary([p for p in pairs if p[1] == t]) for t in sorted({t for _, t in pairs})}
    return out


def voc_threshold_row(items, score_threshold: float) -> dict:
    """The detection and counting figures of one score threshold, for choosing the count threshold."""
    res = evaluate(items, score_threshold)
    counts = count_report(items, score_threshold)
    return {"AER": res["AER"], "F1": res["F1"], "exact": counts["exact"], "mean_abs_error": counts["mean_abs_error"],
            "error_histogram": counts["error_histogram"]}


def chosen_count_threshold(rows: dict) -> str:
    """The count threshold a calibration sweep chooses (`by_threshold` rows, keyed by threshold): the lowest mean
    abs(count - truth), ties by the higher exact-count rate, then the lower threshold. The mean abs error is the figure
    a lab reads per cell and moves less between neighbouring thresholds than the exact rate of a small split does."""
    return min(rows, key=lambda t: (rows[t]["mean_abs_error"], -rows[t]["exact"], float(t)))


def draw(image, boxes, scores, thr, path):
    im = Image.fromarray(image).convert("RGB")
    d = ImageDraw.Draw(im)
    for b, s in zip(boxes.tolist(), scores.tolist()):
        if s >= thr:
            d.rectangle(b, outline=(255, 0, 0))
            d.text((b[0], b[1] - 10), f"{s:.2f}", fill=(255, 0, 0))
    im.save(path)


def held_out_sample(seed: int, cfg):
    """One held-out synthetic spread: (image, truth boxes)."""
    from .synth import generate_spread
    spread = generate_spread(seed, cfg)
    return spread.image, spread.boxes


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m karyotrain evaluate")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint")
    src.add_argument("--model", help="exported model folder (config.json + model.safetensors)")
    ap.add_argument("--held-out", type=int, default=0, help="number of held-out synthetic spreads")
    ap.add_argument("--first-seed", type=int, default=None, help="default: the first HELD_OUT seed")
    ap.add_argument("--coco", help="evaluate on the images of this COCO file (e.g. a `synth --out` folder's "
                                   "annotations.coco.json) instead of generating --held-out spreads")
    ap.add_argument("--voc", help="a Pascal VOC folder (images/ID.jpg, annotations/ID.xml), e.g. ../shared/data/tseng")
    ap.add_argument("--list", default="val.txt", help="the --voc folder's list of IDs to evaluate")
    ap.add_argument("--real", nargs="*", default=None, help="annotated PNGs (labelme JSON beside them)")
    ap.add_argument("--method", choices=METHODS, help="override postprocess.method")
    ap.add_argument("--methods", help="comma-separated post-processing methods compared on the same network "
                                      "outputs, e.g. eg-nms,nms,soft-nms (synthetic set only)")
    ap.add_argument("--score-threshold", type=float, default=None,
                    help="the score a detection needs to count; default: the model's postprocess.count_threshold")
    ap.add_argument("--thresholds", help="comma-separated score thresholds also reported for the synthetic and --voc "
                                         "sets (count threshold calibration); default: --score-threshold only")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--draw", help="write annotated PNGs of the real images here")
    ap.add_argument("--size", help="held-out spread size WxH (default: the training data size)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", help="where the network runs (cpu, cuda)")
    ap.add_argument("--workers", type=int, default=0, help="processes generating the held-out spreads")
    ap.add_argument("--chromosome-width", type=float, default=None,
                    help="the lab's chromosome width in source px (config `chromosome_width_px`, what `karyocount "
                         "calibrate` measures): every --voc and --real image is brought to the working scale by it "
                         "instead of by its own measured width")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    model = load_checkpoint(a.checkpoint, a.device) if a.checkpoint else load_exported(a.model, a.device)
    if a.method:
        model.cfg["postprocess"]["method"] = a.method
    if a.score_threshold is None:
        a.score_threshold = float(model.cfg["postprocess"].get("count_threshold", 0.5))
    report = {"method": model.cfg["postprocess"]["method"], "model": a.checkpoint or a.model,
              "chromosome_width": a.chromosome_width}

    def lab_factor(image):
        """The working-scale factor of the lab's chromosome width; None: each image's own measured width."""
        if a.chromosome_width is None:
            return None
        return working_factor(image, model.cfg["input"], width=a.chromosome_width)
    if a.held_out or a.coco:
        from .synth import HELD_OUT_SEEDS, SpreadConfig
        d = dict(model.cfg.get("data", {"width": 1600, "height": 1200, "synth": {}}))
        if a.size:
            d["width"], d["height"] = (int(v) for v in a.size.lower().split("x"))
        first = HELD_OUT_SEEDS.start if a.first_seed is None else a.first_seed
        methods = a.methods.split(",") if a.methods else [model.cfg["postprocess"]["method"]]
        thresholds = [float(t) for t in a.thresholds.split(",")] if a.thresholds else [a.score_threshold]
        items = {m: [] for m in methods}
        t0 = time.time()
        spread_cfg = SpreadConfig(width=d.get("width", 1600), height=d.get("height", 1200), **d.get("synth", {}))
        seeds = range(first, first + a.held_out)
        pool = multiprocessing.get_context("spawn").Pool(a.workers) if a.workers > 0 and not a.coco else None
        if a.coco:
            samples = coco_samples(Path(a.coco))
        elif pool:
            samples = pool.imap(functools.partial(held_out_sample, cfg=spread_cfg), seeds)
        else:
            samples = (held_out_sample(seed, spread_cfg) for seed in seeds)
        n_images = 0
        for image, truth in samples:
            outs, _ = detect_methods(model, image, methods, a.device)
            for m in methods:
                items[m].append((outs[m][0], outs[m][1], truth))
            n_images += 1
        if pool:
            pool.close()
        seconds = (time.time() - t0) / max(n_images, 1)
        report["synthetic"] = {}
        for m in methods:
            for t in thresholds:
                res = evaluate(items[m], t)
                res["seconds_per_image"] = seconds
                res.pop("per_image")
                key = m if len(thresholds) == 1 else f"{m}@{t:g}"
                report["synthetic"][key] = res
        if len(methods) == 1 and len(thresholds) == 1:
            report["synthetic"] = report["synthetic"][methods[0]]
    if a.voc:
        root = Path(a.voc)
        items, names, ids, t0 = [], [], [], time.time()
        for image, truth, classes, ident in voc_samples(root, a.list):
            r = detect(model, image, factor=lab_factor(image), device=a.device)
            items.append((r["boxes"].numpy(), r["scores"].numpy(), truth))
            names.append(classes)
            ids.append(ident)
        res = evaluate(items, a.score_threshold)
        res["by_class"] = class_report([(*item, n) for item, n in zip(items, names)], a.score_threshold)
        res["per_image"] = [dict(p, id=i) for p, i in zip(res["per_image"], ids)]
        res["seconds_per_image"] = (time.time() - t0) / max(len(items), 1)
        res["counts"] = count_report(items, a.score_threshold)
        if a.thresholds:
            res["by_threshold"] = {f"{t:g}": voc_threshold_row(items, t) for t in map(float, a.thresholds.split(","))}
            res["chosen_threshold"] = float(chosen_count_threshold(res["by_threshold"]))
        report["voc"] = {"root": str(root), "list": a.list, "score_threshold": a.score_threshold, **res}
    reals = DEFAULT_REAL if a.real is None else [Path(p) for p in a.real]
    report["real"] = {}
    for p in reals:
        p = Path(p)
        img = load_grey(p)
        r = detect(model, img, factor=lab_factor(img), device=a.device)
        entry = {"count": r["count"], "factor": r["factor"]}
        truth = p.with_suffix(".json")
        if truth.exists():
            res = evaluate([(r["boxes"].numpy(), r["scores"].numpy(), labelme_boxes(truth))], a.score_threshold)
            res.pop("per_image")
            entry.update(res)
            if a.methods:
                outs, _ = detect_methods(model, img, a.methods.split(","), a.device)
                for m, (b, sc) in outs.items():
                    res = evaluate([(b, sc, labelme_boxes(truth))], a.score_threshold)
                    res.pop("per_image")
                    entry[m] = {k: res[k] for k in ("TP", "FP", "FN", "AER", "F1")}
        if a.draw:
            Path(a.draw).mkdir(parents=True, exist_ok=True)
            draw(img, r["boxes"], r["scores"], a.score_threshold, Path(a.draw) / f"{p.stem}.annotated.png")
        report["real"][p.name] = entry
    text = json.dumps(report, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    return 0
