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
    return _categories(max_iou, matched, low_quality, sampler)


def anchor_categories_on_grid(base: torch.Tensor, feat_h: int, feat_w: int, stride: int, gt: torch.Tensor,
                              sampler: str):
    """`anchor_categories` for the anchors `grid_anchors(base, feat_h, feat_w, stride)`, same results, ~10x faster.

    An anchor can overlap a ground truth only if its cell lies within the box widened by the largest base-anchor
    extent, so each ground truth is compared with the anchors of that window only instead of all H*W*A of them.
    """
    a = base.shape[0]
    m = feat_h * feat_w * a
    device = gt.device
    if gt.numel() == 0:
        z = torch.zeros(m, dtype=torch.bool, device=device)
        return torch.zeros(m, dtype=torch.long, device=device), z, z.clone(), ~z
    g = gt.shape[0]
    reach = float(base.abs().max())
    lo_x = torch.floor((gt[:, 0] - reach) / stride).long().clamp(0, feat_w - 1)
    hi_x = torch.ceil((gt[:, 2] + reach) / stride).long().clamp(0, feat_w - 1)
    lo_y = torch.floor((gt[:, 1] - reach) / stride).long().clamp(0, feat_h - 1)
    hi_y = torch.ceil((gt[:, 3] + reach) / stride).long().clamp(0, feat_h - 1)
    span_x = int((hi_x - lo_x).max()) + 1
    span_y = int((hi_y - lo_y).max()) + 1
    # Window cells per ground truth (clamped at the grid's edge: repeats are harmless for maxima).
    cx = torch.minimum(lo_x[:, None] + torch.arange(span_x, device=device)[None, :], hi_x[:, None])  # (G, Sx)
    cy = torch.minimum(lo_y[:, None] + torch.arange(span_y, device=device)[None, :], hi_y[:, None])  # (G, Sy)
    cell = (cy[:, :, None] * feat_w + cx[:, None, :]).reshape(g, -1)  # (G, Sy*Sx)
    idx = (cell[:, :, None] * a + torch.arange(a, device=device)[None, None, :]).reshape(g, -1)  # (G, L)
    shift = torch.stack([cx[:, None, :].expand(g, span_y, span_x), cy[:, :, None].expand(g, span_y, span_x)], -1)
    shift = (shift.reshape(g, -1, 1, 2).to(gt.dtype) * stride).expand(g, span_y * span_x, a, 2)
    anc = (base.to(device)[None, None, :, :] + torch.cat([shift, shift], -1)).reshape(g, -1, 4)  # (G, L, 4)
    lt = torch.max(anc[..., :2], gt[:, None, :2])
    rb = torch.min(anc[..., 2:], gt[:, None, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (anc[..., 2] - anc[..., 0]) * (anc[..., 3] - anc[..., 1])
    area_g = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    iou = inter / (area_a + area_g[:, None] - inter)  # (G, L)
    flat_idx = idx.reshape(-1)
    flat_iou = iou.reshape(-1)
    max_iou = torch.zeros(m, dtype=iou.dtype, device=device).scatter_reduce(0, flat_idx, flat_iou, "amax")
    # Matched ground truth: the lowest index reaching the anchor's maximum (torch.max's first occurrence).
    gt_index = torch.arange(g, device=device)[:, None].expand_as(iou).reshape(-1)
    at_max = flat_iou == max_iou[flat_idx]
    matched = torch.full((m,), g, dtype=torch.long, device=device)
    matched = matched.scatter_reduce(0, flat_idx[at_max], gt_index[at_max], "amin")
    matched = torch.where(max_iou > 0, matched, torch.zeros_like(matched))
    best_per_gt = iou.max(dim=1, keepdim=True).values
    lq = ((iou == best_per_gt) & (best_per_gt > 0)).reshape(-1)
    low_quality = torch.zeros(m, dtype=torch.bool, device=device)
    low_quality[flat_idx[lq]] = True
    return _categories(max_iou, matched, low_quality, sampler)


def _categories(max_iou, matched, low_quality, sampler: str):
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
    """n indices of `mask` drawn uniformly without replacement (the n largest of uniform keys).

    The keys are drawn where the mask is: a CPU permutation of ~270,000 easy negatives per image took 16 ms
    under the data workers' load and was half of a GPU training step.
    """
    idx = torch.where(mask)[0]
    if idx.numel() <= n:
        return idx
    keys = torch.rand(idx.numel(), device=idx.device) if gen is None else torch.rand(idx.numel(), generator=gen)
    return idx[keys.to(idx.device).topk(n, sorted=False).indices]


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
