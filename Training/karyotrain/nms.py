"""Post-processing: plain NMS, Gaussian Soft-NMS and Embedding-Guided NMS (DeepACEv2 Algorithm 1).

All three follow MODEL.md steps 11 and 15 exactly; the Swift engine mirrors them.
"""

import numpy as np
import torch

from .boxes import box_iou


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_keep: int | None = None,
        block: int = 512) -> torch.Tensor:
    """Greedy NMS (torchvision semantics): indices kept, in descending score order (stable for ties).

    Stops once max_keep boxes are kept (the result equals the full NMS cut to max_keep). The IoUs of `block`
    boxes against all later ones are computed at once where the boxes are (the GPU in training), with the same
    float32 operations as one box at a time; only the greedy pass over those rows is a Python loop.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order].detach()
    b = b if b.dtype in (torch.float32, torch.float64) else b.float()
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    n = b.shape[0]
    removed = np.zeros(n, dtype=bool)
    keep = []
    limit = n if max_keep is None else max_keep
    for start in range(0, n, block):
        end = min(start + block, n)
        rows = np.arange(start, end)
        rows = rows[~removed[start:end]]
        if rows.size == 0:
            continue
        r = torch.from_numpy(rows).to(b.device)
        w = (torch.minimum(x2[r, None], x2[None, start:]) - torch.maximum(x1[r, None], x1[None, start:])).clamp(min=0)
        h = (torch.minimum(y2[r, None], y2[None, start:]) - torch.maximum(y1[r, None], y1[None, start:])).clamp(min=0)
        inter = w * h
        over = (inter / (area[r, None] + area[None, start:] - inter) > iou_threshold).cpu().numpy()
        among = over[:, rows - start]  # the surviving rows of this block against each other
        suppressed = np.zeros(rows.size, dtype=bool)
        kept = []
        for k in range(rows.size):
            if suppressed[k]:
                continue
            kept.append(k)
            keep.append(int(rows[k]))
            if len(keep) >= limit:
                return order[torch.tensor(keep, dtype=torch.long, device=order.device)]
            suppressed[k + 1:] |= among[k, k + 1:]
        removed[end:] |= over[kept, end - start:].any(axis=0)
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]


def _soft_loop(boxes, scores, decay_exponent, sigma: float, top_k: int):
    """Shared loop of Soft-NMS and EG-NMS: returns (indices, decayed scores) in output order."""
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=scores.dtype)
    iou = box_iou(boxes.detach(), boxes.detach())
    current = scores.clone()
    alive = torch.ones(n, dtype=torch.bool)
    out_idx, out_scores = [], []
    neg_inf = torch.tensor(float("-inf"), dtype=scores.dtype)
    for _ in range(n):
        masked = torch.where(alive, current, neg_inf)
        m = int(torch.argmax(masked))  # first index of the maximum: ties go to the lowest index
        out_idx.append(m)
        out_scores.append(current[m].clone())
        alive[m] = False
        p = decay_exponent(m)
        decay = torch.exp(-torch.pow(iou[m], p) / sigma)
        current = torch.where(alive, current * decay, current)
    idx = torch.tensor(out_idx[:top_k], dtype=torch.long)
    return idx, torch.stack(out_scores[:top_k])


def soft_nms(boxes: torch.Tensor, scores: torch.Tensor, sigma: float = 0.5, top_k: int = 100):
    """Gaussian Soft-NMS: s_i <- s_i * exp(-iou(b_max, b_i)^2 / sigma). Returns (indices, scores)."""
    two = torch.tensor(2.0, dtype=scores.dtype)
    return _soft_loop(boxes, scores, lambda m: two, sigma, top_k)


def embedding_guided_nms(boxes: torch.Tensor, scores: torch.Tensor, embeddings: torch.Tensor,
                         delta: float = 0.3, sigma: float = 0.5, top_k: int = 100):
    """Embedding-Guided NMS, Algorithm 1: s_i <- s_i * exp(-iou^(1.5 + S(d)) / sigma), S(d) = 1/(1+exp(-2(d-delta))).

    d = |e_max - e_i|. Returns (indices into the inputs, decayed scores), in output order, at most top_k.
    """
    e = embeddings.reshape(-1)

    def exponent(m):
        d = (e[m] - e).abs()
        return 1.5 + 1.0 / (1.0 + torch.exp(-2.0 * (d - delta)))

    return _soft_loop(boxes, scores, exponent, sigma, top_k)
