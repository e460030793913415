"""Anchors of the single P3 level, exactly as torchvision's AnchorGenerator (MODEL.md step 8)."""

import torch

ASPECT_RATIOS = (1 / 5, 1 / 4, 1 / 3, 1 / 2, 1.0, 2.0, 3.0, 4.0, 5.0)


def base_anchors(sizes, aspect_ratios=ASPECT_RATIOS) -> torch.Tensor:
    """(A,4) zero-centred anchors, ratio-major and size-minor, rounded half to even (float32)."""
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ar = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ar)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (h_ratios[:, None] * scales[None, :]).view(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def grid_anchors(base: torch.Tensor, feat_h: int, feat_w: int, stride: int) -> torch.Tensor:
    """(feat_h*feat_w*A, 4): index (y*feat_w + x)*A + a, anchor = base[a] + (x*stride, y*stride)."""
    sx = torch.arange(feat_w, dtype=torch.float32) * stride
    sy = torch.arange(feat_h, dtype=torch.float32) * stride
    yy, xx = torch.meshgrid(sy, sx, indexing="ij")
    xx = xx.reshape(-1)
    yy = yy.reshape(-1)
    shifts = torch.stack([xx, yy, xx, yy], dim=1)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)
