"""Training-time sampling: Hard Negative Anchor Sampling (paper Section 2.2) and Fast R-CNN RoI sampling."""

import torch

from .boxes import box_iou

# IoU bands (positive >=, hard negative [lo, hi), easy < lo).
BANDS = {"hnas-v2": (0.7, 0.1, 0.5), "hnas-v1": (0.7, 0.3, 0.7)}


def anchor_categories(anchors: torch.Tensor, gt: torch.Tensor, sampler: str):
    """Per anchor: matched gt index, positive / hard-negative / easy-negative masks.

    Positives: max IoU >= 0.7, plus for each ground truth the anchors of its highest IoU (torchvision's
    low-quality matches). HNAS v2: hard [0.1, 0.5), easy < 0.1 (anchors in [0.5, 0.7) are ignored); v1: hard
    [0.3, 0.7), easy < 0.3; "standard": negatives < 0.3, no hard/easy split (all in `easy`).
    """
    m = anchors.shape[0]
    if gt.numel() == 0:
        z = torch.zeros(m, dtype=torch.bool, device=anchors.device)
        return torch.zeros(m, dtype=torch.long, device=anchors.device), z, z.clone(), ~z
    iou = box_iou(gt, anchors)  # (G, M)
    max_iou, matched = iou.max(dim=0)
    best_per_gt = iou.max(dim=1, keepdim=True).values
    low_quality = ((iou == best_per_gt) & (best_per_gt > 0)).any(dim=0)
    pos = (max_iou >= 0.7) | low_quality
    if sampler == "standard":
        hard = torch.zeros_like(pos)
        easy = (max_iou < 0.3) & ~pos
    else:
        _, lo, hi = BANDS[sampler]
        hard = (max_iou >= lo) & (max_iou < hi) & ~pos
        easy = (max_iou < lo) & ~pos
    return matched, pos, hard, easy


def _pick(mask: torch.Tensor, n: int, gen=None) -> torch.Tensor:
    idx = torch.where(mask)[0]
    if idx.numel() <= n:
        return idx
    perm = torch.randperm(idx.numel(), generator=gen, device="cpu")[:n].to(idx.device)
    return idx[perm]


def sample_anchors(pos, hard, easy, sampler: str, batch_size: int = 512, positive_fraction: float = 0.25, gen=None):
    """Returns (positive indices, negative indices).

    HNAS: 25% positive, the rest split evenly between hard and easy negatives (512 -> 128/192/192); a shortfall in
    one negative stratum is filled from the other. Standard: torchvision's sampler over `easy` negatives.
    """
    n_pos = min(int(pos.sum()), int(batch_size * positive_fraction))
    p = _pick(pos, n_pos, gen)
    n_neg = batch_size - p.numel()
    if sampler == "standard":
        return p, _pick(easy, n_neg, gen)
    n_hard_avail, n_easy_avail = int(hard.sum()), int(easy.sum())
    n_hard = min(n_hard_avail, n_neg // 2)
    n_easy = min(n_easy_avail, n_neg - n_hard)
    n_hard = min(n_hard_avail, n_neg - n_easy)
    return p, torch.cat([_pick(hard, n_hard, gen), _pick(easy, n_easy, gen)])


def sample_rois(proposals: torch.Tensor, gt: torch.Tensor, batch_size=512, positive_fraction=0.25, fg_iou=0.5,
                gen=None):
    """Fast R-CNN sampling on proposals + ground truths: (rois, labels, matched gt, IoU matrix rows)."""
    rois = torch.cat([proposals, gt]) if gt.numel() else proposals
    if gt.numel() == 0:
        idx = _pick(torch.ones(rois.shape[0], dtype=torch.bool), batch_size, gen)
        zeros = torch.zeros(idx.numel(), dtype=torch.long)
        return rois[idx], zeros, zeros, None
    iou = box_iou(rois, gt)  # (P, G)
    max_iou, matched = iou.max(dim=1)
    fg = max_iou >= fg_iou
    bg = max_iou < fg_iou
    f = _pick(fg, min(int(fg.sum()), int(batch_size * positive_fraction)), gen)
    b = _pick(bg, batch_size - f.numel(), gen)
    idx = torch.cat([f, b])
    labels = torch.cat([torch.ones(f.numel(), dtype=torch.long), torch.zeros(b.numel(), dtype=torch.long)])
    return rois[idx], labels.to(rois.device), matched[idx], iou[idx]
