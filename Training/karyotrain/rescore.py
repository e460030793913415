"""Context rescoring (MODEL.md step 18): a small network that re-scores each post-processed detection from what the
box head does not see: its neighbours (how much a higher-ranked box covers it, which lower-ranked boxes lie inside
it, how their embeddings differ), its size in chromosome widths and how dark the image is inside, along and around
its edges. It is fitted on the detections of one model's weights on real spreads it was not validated on, and is
valid for those weights only (`rescore.model_sha256`). Nothing in it depends on how many detections an image has.

    python -m karyotrain rescore --model ../Models/default --voc ../../shared/data/tseng \\
        --fit-list Training/splits/tseng-fit.txt --calibration-list Training/splits/tseng-calibration.txt \\
        --cache /tmp/rescore-cache --out /tmp/default-rescored
"""

import argparse
import hashlib
import json
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

FEATURES = (
    "logit(score after post-processing)",
    "logit(box head score)",
    "log(long side / chromosome width)",
    "log(short side / chromosome width)",
    "max IoU with a higher-ranked box",
    "max share of the box inside a higher-ranked box",
    "max share of a higher-ranked box inside the box",
    "logit(score) of the higher-ranked box of max IoU",
    "|embedding - that box's embedding|",
    "max IoU with a lower-ranked box",
    "sum of the scores of lower-ranked boxes > 70% inside the box",
    "sum of the scores of lower-ranked boxes the box is > 70% inside",
    "mean darkness inside",
    "mean darkness of the edge band (a quarter width)",
    "mean darkness of the ring around (half a width)",
    "log(1 + dark mass / width^2)",
)
SCORE_CLIP = 1e-4  # logits of scores clipped to [SCORE_CLIP, 1 - SCORE_CLIP]
NO_NEIGHBOUR_LOGIT = float(np.log(SCORE_CLIP / (1 - SCORE_CLIP)))
INSIDE_SHARE = 0.7
EDGE_WIDTHS = 0.25
RING_WIDTHS = 0.5
BACKGROUND_QUANTILE = 0.75
STAIN_QUANTILE = 0.01


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, SCORE_CLIP, 1 - SCORE_CLIP)
    return np.log(p / (1 - p))


def _level_quantile(histogram: np.ndarray, q: float) -> int:
    """The lowest grey level L with at least q of the pixels at or below L."""
    return int(np.searchsorted(np.cumsum(histogram), q * histogram.sum()))


def darkness(grey: np.ndarray) -> np.ndarray:
    """(background - grey) / (background - stain) clipped to [0, 1], per pixel: background is the grey level at the
    75th percentile, stain the level at the 1st (levels rounded half to even, 0...255)."""
    g = np.clip(np.rint(np.asarray(grey, np.float64)), 0, 255)
    hist = np.bincount(g.astype(np.int64).ravel(), minlength=256)
    bg = _level_quantile(hist, BACKGROUND_QUANTILE)
    stain = _level_quantile(hist, STAIN_QUANTILE)
    return np.clip((bg - g) / max(bg - stain, 1), 0, 1)


def _box_sums(integral: np.ndarray, boxes: np.ndarray):
    """Sums and pixel counts of a map over boxes (x1 y1 x2 y2, source px), the box grown to whole pixels."""
    h, w = integral.shape[0] - 1, integral.shape[1] - 1
    x1 = np.clip(np.floor(boxes[:, 0]), 0, w).astype(np.int64)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, h).astype(np.int64)
    x2 = np.maximum(np.clip(np.ceil(boxes[:, 2]), 0, w).astype(np.int64), x1)
    y2 = np.maximum(np.clip(np.ceil(boxes[:, 3]), 0, h).astype(np.int64), y1)
    s = integral[y2, x2] - integral[y1, x2] - integral[y2, x1] + integral[y1, x1]
    return s, (x2 - x1) * (y2 - y1)


def features(boxes, scores, network_scores, embeddings, width: float, grey) -> np.ndarray:
    """The FEATURES of each detection, (N, 16) float64. Detections in post-processing's output order (the rank);
    boxes in source pixels; width: the chromosome width in source pixels (the model's target width / factor)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(-1)
    e = np.asarray(embeddings, np.float64).reshape(-1)
    n = b.shape[0]
    out = np.zeros((n, len(FEATURES)))
    if n == 0:
        return out
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    area = bw * bh
    ix = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-12)
    inside_other = inter / np.maximum(area[:, None], 1e-12)  # [i, j]: the share of i inside j
    other_inside = inter / np.maximum(area[None, :], 1e-12)  # [i, j]: the share of j inside i
    logit_s = _logit(s)
    out[:, 0] = logit_s
    out[:, 1] = _logit(np.asarray(network_scores, np.float64).reshape(-1))
    out[:, 2] = np.log(np.maximum(np.maximum(bw, bh), 1e-6) / width)
    out[:, 3] = np.log(np.maximum(np.minimum(bw, bh), 1e-6) / width)
    out[0, 7] = NO_NEIGHBOUR_LOGIT
    for i in range(n):
        if i > 0:
            k = int(np.argmax(iou[i, :i]))
            out[i, 4] = iou[i, k]
            out[i, 5] = inside_other[i, :i].max()
            out[i, 6] = other_inside[i, :i].max()
            out[i, 7] = logit_s[k]
            out[i, 8] = abs(e[i] - e[k])
        if i + 1 < n:
            out[i, 9] = iou[i, i + 1:].max()
            out[i, 10] = (s[i + 1:] * (other_inside[i, i + 1:] > INSIDE_SHARE)).sum()
            out[i, 11] = (s[i + 1:] * (inside_other[i, i + 1:] > INSIDE_SHARE)).sum()
    dark = darkness(grey)
    integral = np.zeros((dark.shape[0] + 1, dark.shape[1] + 1))
    integral[1:, 1:] = dark.cumsum(0).cumsum(1)
    inside, pixels = _box_sums(integral, b)
    edge = EDGE_WIDTHS * width
    core = b + np.array([edge, edge, -edge, -edge])
    core[:, 2] = np.maximum(core[:, 2], core[:, 0])
    core[:, 3] = np.maximum(core[:, 3], core[:, 1])
    inner, inner_pixels = _box_sums(integral, core)
    ring = RING_WIDTHS * width
    grown, grown_pixels = _box_sums(integral, b + np.array([-ring, -ring, ring, ring]))
    out[:, 12] = inside / np.maximum(pixels, 1)
    out[:, 13] = (inside - inner) / np.maximum(pixels - inner_pixels, 1)
    out[:, 14] = (grown - inside) / np.maximum(grown_pixels - pixels, 1)
    out[:, 15] = np.log1p(inside / (width * width))
    return out


def labels(boxes, truth, iou_threshold: float = 0.5) -> np.ndarray:
    """1 for a detection that finds a chromosome: in rank order, each takes the unmatched truth box of highest IoU
    >= iou_threshold; a later box on a found chromosome is 0, as the metrics count it."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    t = np.asarray(truth, np.float64).reshape(-1, 4)
    y = np.zeros(b.shape[0])
    if b.shape[0] == 0 or t.shape[0] == 0:
        return y
    ix = np.clip(np.minimum(b[:, None, 2], t[None, :, 2]) - np.maximum(b[:, None, 0], t[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(b[:, None, 3], t[None, :, 3]) - np.maximum(b[:, None, 1], t[None, :, 1]), 0, None)
    inter = ix * iy
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    at = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    iou = inter / (ab[:, None] + at[None, :] - inter)
    used = np.zeros(t.shape[0], bool)
    for i in range(b.shape[0]):
        cand = np.where(~used & (iou[i] >= iou_threshold))[0]
        if cand.size:
            j = cand[np.argmax(iou[i, cand])]
            used[j] = True
            y[i] = 1
    return y


class Rescorer(nn.Module):
    """features -> standardized -> Linear(16, h) ReLU Linear(h, h) ReLU Linear(h, 1) -> sigmoid."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        n = len(FEATURES)
        self.register_buffer("mean", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("std", torch.ones(n, dtype=torch.float64))
        self.layers = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                    nn.Linear(hidden, 1))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        z = ((x.double() - self.mean) / self.std).float()
        return self.layers(z).squeeze(1)

    @torch.no_grad()
    def probability(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros(0, np.float32)
        return torch.sigmoid(self.logits(torch.from_numpy(x))).numpy().astype(np.float32)


def fit(x: np.ndarray, y: np.ndarray, hidden: int = 32, epochs: int = 30, seed: int = 0) -> Rescorer:
    """Fits a Rescorer by binary cross-entropy (Adam, batches of 1,024, weight decay 1e-4), deterministic for a seed."""
    torch.manual_seed(seed)
    model = Rescorer(hidden)
    model.mean.copy_(torch.from_numpy(x.mean(0)))
    model.std.copy_(torch.from_numpy(x.std(0) + 1e-6))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).float()
    opt = torch.optim.Adam(model.layers.parameters(), 3e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(xt.shape[0], generator=gen)
        for k in range(0, xt.shape[0], 1024):
            idx = perm[k:k + 1024]
            loss = nn.functional.binary_cross_entropy_with_logits(model.logits(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def weights_sha256(model_dir) -> str:
    return hashlib.sha256((Path(model_dir) / "model.safetensors").read_bytes()).hexdigest()


def save(rescorer: Rescorer, model_dir, info: dict) -> None:
    """Writes rescore.safetensors and the config's `rescore` section (hidden size, the weights it is valid for)."""
    d = Path(model_dir)
    tensors = {k: v.detach().double().contiguous() for k, v in rescorer.state_dict().items()}
    save_file(tensors, str(d / "rescore.safetensors"))
    cfg = json.loads((d / "config.json").read_text())
    cfg["rescore"] = {"hidden": rescorer.layers[0].out_features, "features": len(FEATURES),
                      "model_sha256": weights_sha256(d), **info}
    (d / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")


def load(model_dir, section: dict) -> Rescorer:
    """The rescorer of a model folder; refuses one fitted on other weights."""
    d = Path(model_dir)
    if section.get("features") != len(FEATURES):
        raise ValueError(f"{d}: rescore.features {section.get('features')}, expected {len(FEATURES)}")
    if section.get("model_sha256") != weights_sha256(d):
        raise ValueError(f"{d}: rescore.safetensors was fitted on other weights (rescore.model_sha256 differs from "
                         "model.safetensors); fit it again with `python -m karyotrain rescore`")
    r = Rescorer(int(section["hidden"]))
    tensors = load_file(str(d / "rescore.safetensors"))
    r.load_state_dict({k: v if k in ("mean", "std") else v.float() for k, v in tensors.items()})
    return r.eval()


def detection_rows(model_dir: str, root: str, ident: str) -> dict:
    """Runs the model (without its rescorer) on one VOC image: its features, labels and truth count."""
    from .data import load_voc_sample
    from .model import detect
    model = _worker_model(model_dir)
    image, truth, _ = load_voc_sample(Path(root), ident)
    r = detect(model, image, rescore=False)
    width = float(model.cfg["input"]["target_chromosome_width"]) / r["factor"]
    x = features(r["boxes"].numpy(), r["scores"].numpy(), r["network_scores"].numpy(), r["embeddings"].numpy(),
                 width, image)
    return {"id": ident, "x": x, "y": labels(r["boxes"].numpy(), truth), "truth": int(truth.shape[0])}


_MODELS: dict = {}


def _worker_model(model_dir: str):
    if model_dir not in _MODELS:
        from .export import load_exported
        torch.set_num_threads(1)
        _MODELS[model_dir] = load_exported(model_dir, rescore=False)
    return _MODELS[model_dir]


def detections(model_dir: str, root: str, listing: str, cache: Path | None, workers: int) -> list[dict]:
    """detection_rows of every ID of a list, in the list's order; kept in cache/LISTNAME.npz when cache is given."""
    from .data import voc_ids
    ids = voc_ids(Path(root), listing)
    path = cache / f"{Path(listing).stem}-{weights_sha256(model_dir)[:12]}.npz" if cache else None
    if path and path.exists():
        z = np.load(path, allow_pickle=True)
        return list(z["rows"])
    args = [(model_dir, root, i) for i in ids]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            rows = pool.starmap(detection_rows, args)
    else:
        rows = [detection_rows(*a) for a in args]
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, rows=np.array(rows, dtype=object))
    return rows


def count_rows(rows: list[dict], probabilities: list[np.ndarray], thresholds) -> dict:
    """Per threshold: exact-count rate, mean abs and mean (count - truth), as `evaluate`'s calibration sweep."""
    out = {}
    for t in thresholds:
        err = np.array([int((p >= t).sum()) - r["truth"] for r, p in zip(rows, probabilities)])
        out[f"{t:g}"] = {"exact": float(100 * np.mean(err == 0)), "mean_abs_error": float(np.mean(np.abs(err))),
                         "mean_error": float(np.mean(err))}
    return out


def main(argv) -> int:
    from .evaluate import chosen_count_threshold
    ap = argparse.ArgumentParser(prog="python -m karyotrain rescore")
    ap.add_argument("--model", required=True, help="exported model folder whose detections are rescored")
    ap.add_argument("--voc", required=True, help="Pascal VOC folder of real spreads (../shared/data/tseng)")
    ap.add_argument("--fit-list", required=True, help="IDs the rescorer is fitted on (never val.txt)")
    ap.add_argument("--calibration-list", required=True,
                    help="IDs the count threshold is chosen on (not fitted on, never val.txt)")
    ap.add_argument("--out", required=True, help="the model folder copied here with its rescorer")
    ap.add_argument("--cache", help="folder keeping each list's detections for a later run")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=30)
    a = ap.parse_args(argv)
    cache = Path(a.cache) if a.cache else None
    fit_rows = detections(a.model, a.voc, a.fit_list, cache, a.workers)
    cal_rows = detections(a.model, a.voc, a.calibration_list, cache, a.workers)
    x = np.concatenate([r["x"] for r in fit_rows])
    y = np.concatenate([r["y"] for r in fit_rows])
    rescorer = fit(x, y, a.hidden, a.epochs)
    thresholds = [round(t, 2) for t in np.arange(0.10, 0.905, 0.01)]
    rows = count_rows(cal_rows, [rescorer.probability(r["x"]) for r in cal_rows], thresholds)
    chosen = float(chosen_count_threshold(rows))
    out = Path(a.out)
    if out.resolve() != Path(a.model).resolve():
        shutil.copytree(a.model, out, dirs_exist_ok=True)
    cfg = json.loads((out / "config.json").read_text())
    cfg["postprocess"]["count_threshold"] = chosen
    (out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    save(rescorer, out, {"fit": {"list": a.fit_list, "images": len(fit_rows), "detections": int(y.size),
                                 "found": int(y.sum()), "epochs": a.epochs},
                         "calibration": {"list": a.calibration_list, "images": len(cal_rows),
                                         "chosen": rows[f"{chosen:g}"]}})
    print(json.dumps({"count_threshold": chosen, "calibration": rows[f"{chosen:g}"], "detections": int(y.size)}))
    return 0
