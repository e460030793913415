"""The paper's metrics (Section 3.2), as issue 3 defines them for `karyocount eval`.

A prediction is assigned to the ground truth of highest IoU; it is a TP when that IoU >= 0.5 and it has the
highest score among the predictions assigned there with IoU >= 0.5 (ties: the earlier prediction); otherwise FP.
Unmatched ground truths are FN. Figures are in percent.
"""

import math
from collections import Counter

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def assign(pred_boxes, pred_scores, gt_boxes, iou_thr=0.5) -> dict:
    """{truth index: prediction index}: each prediction goes to the truth box it overlaps most, when by at least
    `iou_thr`; a truth box claimed by several keeps the highest-scoring one."""
    pb = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    ps = np.asarray(pred_scores, np.float64).reshape(-1)
    gb = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    if len(pb) == 0 or len(gb) == 0:
        return {}
    iou = iou_matrix(pb, gb)
    best = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(pb)), best]
    winner = {}
    for i in range(len(pb)):
        if best_iou[i] >= iou_thr:
            g = int(best[i])
            if g not in winner or ps[i] > ps[winner[g]]:
                winner[g] = i
    return winner


def match(pred_boxes, pred_scores, gt_boxes, iou_thr=0.5):
    """Per prediction: True for TP. Returns (tp flags in input order, number of gts matched)."""
    winner = assign(pred_boxes, pred_scores, gt_boxes, iou_thr)
    tp = np.zeros(len(np.asarray(pred_boxes).reshape(-1, 4)), bool)
    for i in winner.values():
        tp[i] = True
    return tp, len(winner)


def class_report(items, score_threshold=0.5, iou_thr=0.5, part_iou=0.2) -> dict:
    """Where a count's errors come from. items: (pred_boxes, pred_scores, gt_boxes, gt_class_names) per image.
    Per annotated class: truth boxes, missed ones (no counted box matched them) and the miss rate in percent; the
    misses by cause: a box below the threshold would have matched ("below_threshold"), a counted box overlaps by
    `part_iou` to `iou_thr` (a piece, a merge of touching chromosomes or a loose box: "piece_or_merge"), neither
    ("no_box"); the false counted boxes by kind: overlapping an already found chromosome by `iou_thr` or more
    ("duplicate"), overlapping a chromosome by `part_iou` to `iou_thr` ("piece_or_merge"), neither ("no_chromosome")."""
    truth, missed = Counter(), Counter()
    causes, false = Counter(), Counter()
    for pb, ps, gb, names in items:
        pb = np.asarray(pb, np.float64).reshape(-1, 4)
        ps = np.asarray(ps, np.float64).reshape(-1)
        gb = np.asarray(gb, np.float64).reshape(-1, 4)
        keep = ps >= score_threshold
        counted = np.flatnonzero(keep)
        found = {g: counted[i] for g, i in assign(pb[keep], ps[keep], gb, iou_thr).items()}
        iou = iou_matrix(pb, gb) if len(pb) and len(gb) else np.zeros((len(pb), len(gb)))
        for g, name in enumerate(names):
            truth[name] += 1
            if g in found:
                continue
            missed[name] += 1
            if (iou[~keep, g] >= iou_thr).any():
                causes["below_threshold"] += 1
            elif (iou[keep, g] >= part_iou).any():
                causes["piece_or_merge"] += 1
            else:
                causes["no_box"] += 1
        true_boxes = set(found.values())
        for i in counted:
            if i in true_boxes:
                continue
            overlap = iou[i].max() if len(gb) else 0.0
            kind = "duplicate" if overlap >= iou_thr else "piece_or_merge" if overlap >= part_iou else "no_chromosome"
            false[kind] += 1
    per_class = {name: {"truth": truth[name], "missed": missed[name], "miss_rate": 100 * missed[name] / truth[name]}
                 for name in sorted(truth, key=lambda n: (-missed[n] / truth[n], n))}
    return {"per_class": per_class, "misses": dict(causes), "false": dict(false)}


def evaluate(images, score_threshold=0.5, iou_thr=0.5) -> dict:
    """images: list of (pred_boxes, pred_scores, gt_boxes). Returns the paper's figures (percent) + counts."""
    TP = FP = FN = 0
    whole = exact = 0
    n_gt = 0
    all_scores, all_tp = [], []
    per_image = []
    for pb, ps, gb in images:
        pb = np.asarray(pb, np.float64).reshape(-1, 4)
        ps = np.asarray(ps, np.float64).reshape(-1)
        gb = np.asarray(gb, np.float64).reshape(-1, 4)
        keep = ps >= score_threshold
        tp, _ = match(pb[keep], ps[keep], gb, iou_thr)
        t = int(tp.sum())
        fp = int(keep.sum()) - t
        fn = len(gb) - t
        TP, FP, FN = TP + t, FP + fp, FN + fn
        whole += int(fp == 0 and fn == 0)
        exact += int(int(keep.sum()) == len(gb))
        per_image.append({"tp": t, "fp": fp, "fn": fn, "count": int(keep.sum()), "truth": len(gb)})
        tp_all, _ = match(pb, ps, gb, iou_thr)
        all_scores.append(ps)
        all_tp.append(tp_all)
        n_gt += len(gb)
    n = max(len(images), 1)
    prec = TP / (TP + FP) if TP + FP else 0.0
    rec = TP / (TP + FN) if TP + FN else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    flags = np.concatenate(all_tp) if all_tp else np.zeros(0, bool)
    order = np.argsort(-scores, kind="stable")
    flags = flags[order]
    ctp = np.cumsum(flags)
    cfp = np.cumsum(~flags)
    ap = average_precision(ctp, cfp, n_gt)
    mr2 = log_average_miss_rate(ctp, cfp, n_gt, len(images))
    return {"WCR": 100 * whole / n, "AER": 100 * (FP + FN) / max(TP + FN, 1), "Acc": 100 * TP / max(TP + FP + FN, 1),
            "Precision": 100 * prec, "Recall": 100 * rec, "F1": 100 * f1, "mAP": 100 * ap, "MR2": 100 * mr2,
            "CountExact": 100 * exact / n, "TP": TP, "FP": FP, "FN": FN, "images": len(images),
            "per_image": per_image}


def average_precision(ctp, cfp, n_gt) -> float:
    """Area under the all-point interpolated precision-recall curve."""
    if n_gt == 0 or len(ctp) == 0:
        return 0.0
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def log_average_miss_rate(ctp, cfp, n_gt, n_images) -> float:
    """Miss rate averaged (geometric mean) at 9 FPPI points evenly spaced in log space over [1e-2, 1]: at each
    point, the miss rate of the lowest threshold whose FPPI does not exceed it (1 if none)."""
    if n_gt == 0 or n_images == 0:
        return 0.0
    fppi = cfp / n_images
    mr = 1 - ctp / n_gt
    refs = np.logspace(-2, 0, 9)
    vals = []
    for r in refs:
        j = np.where(fppi <= r)[0]
        vals.append(mr[j[-1]] if j.size else 1.0)
    vals = np.maximum(np.asarray(vals, np.float64), 1e-10)
    return float(math.exp(np.mean(np.log(vals))))
