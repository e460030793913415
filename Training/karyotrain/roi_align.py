"""RoIAlign in plain PyTorch, matching torchvision.ops.roi_align(aligned=True) (MODEL.md step 12)."""

import torch
import torch.nn.functional as F


def _axis_samples(start, bin_size, out: int, grid: int, limit: int):
    """Sample coordinates along one axis and their bilinear indices/weights, each (K, out*grid)."""
    k = start.shape[0]
    j = torch.arange(out * grid, dtype=start.dtype, device=start.device)
    p = torch.div(j, grid, rounding_mode="floor")
    i = j - p * grid
    coord = start[:, None] + p[None, :] * bin_size[:, None] + (i[None, :] + 0.5) * bin_size[:, None] / grid
    valid = (coord >= -1.0) & (coord <= limit)
    c = coord.clamp(min=0)
    low = torch.floor(c).long()
    at_end = low >= limit - 1
    low = torch.where(at_end, torch.full_like(low, limit - 1), low)
    high = torch.where(at_end, low, low + 1)
    c = torch.where(at_end, low.to(c.dtype), c)
    lw = c - low.to(c.dtype)
    hw = 1 - lw
    zero = torch.zeros_like(lw)
    return low, high, torch.where(valid, hw, zero), torch.where(valid, lw, zero), k


def roi_align(features: torch.Tensor, boxes: torch.Tensor, batch_index: torch.Tensor,
              output_size: int = 7, spatial_scale: float = 0.125, sampling_ratio: int = 2) -> torch.Tensor:
    """features (N,C,H,W), boxes (K,4) in input pixels, batch_index (K,) -> (K,C,out,out). aligned=True."""
    n, c, h, w = features.shape
    k = boxes.shape[0]
    if k == 0:
        return features.new_zeros((0, c, output_size, output_size))
    g = sampling_ratio
    coord_dtype = torch.promote_types(features.dtype, torch.float32)  # never bf16/fp16 coordinates (AMP)
    b = boxes.to(coord_dtype) * spatial_scale
    x0 = b[:, 0] - 0.5
    y0 = b[:, 1] - 0.5
    bw = (b[:, 2] - b[:, 0]) / output_size
    bh = (b[:, 3] - b[:, 1]) / output_size
    yl, yh, wyl, wyh, _ = _axis_samples(y0, bh, output_size, g, h)
    xl, xh, wxl, wxh, _ = _axis_samples(x0, bw, output_size, g, w)
    s = output_size * g
    flat = features.permute(1, 0, 2, 3).reshape(c, n * h * w)
    base = (batch_index.long() * (h * w))[:, None, None]

    def gather(yi, xi):
        idx = base + yi[:, :, None] * w + xi[:, None, :]
        return flat[:, idx.reshape(-1)].view(c, k, s, s)

    wy_l = wyl[:, :, None]
    wy_h = wyh[:, :, None]
    wx_l = wxl[:, None, :]
    wx_h = wxh[:, None, :]
    val = (wy_l * wx_l) * gather(yl, xl) + (wy_l * wx_h) * gather(yl, xh) \
        + (wy_h * wx_l) * gather(yh, xl) + (wy_h * wx_h) * gather(yh, xh)
    val = val.view(c, k, output_size, g, output_size, g).sum(dim=(3, 5)) / float(g * g)
    return val.permute(1, 0, 2, 3).contiguous().to(features.dtype)


def roi_align_grid_sample(features: torch.Tensor, boxes: torch.Tensor, batch_index: torch.Tensor,
                          output_size: int = 7, spatial_scale: float = 0.125, sampling_ratio: int = 2) -> torch.Tensor:
    """`roi_align` through `F.grid_sample` (native kernels forward and backward): the training path.

    Same sample points and bilinear weights; `padding_mode="border"` clamps like RoIAlign does for points in
    [-1, H] (every point of a box inside the image), while RoIAlign gives 0 beyond that. Inference and the golden
    files use `roi_align`.
    """
    n, c, h, w = features.shape
    k = boxes.shape[0]
    if k == 0:
        return features.new_zeros((0, c, output_size, output_size))
    g = sampling_ratio
    s = output_size * g
    b = boxes.float() * spatial_scale
    j = torch.arange(s, dtype=torch.float32, device=boxes.device)
    p = torch.div(j, g, rounding_mode="floor")
    offset = p + (j - p * g + 0.5) / g  # bin index + position of the sample inside the bin, in bins
    ys = (b[:, 1] - 0.5)[:, None] + offset[None, :] * ((b[:, 3] - b[:, 1]) / output_size)[:, None]  # (K, S)
    xs = (b[:, 0] - 0.5)[:, None] + offset[None, :] * ((b[:, 2] - b[:, 0]) / output_size)[:, None]
    gy = ys / max(h - 1, 1) * 2 - 1
    gx = xs / max(w - 1, 1) * 2 - 1
    grid = torch.stack([gx[:, None, :].expand(k, s, s), gy[:, :, None].expand(k, s, s)], dim=-1)  # (K, S, S, 2)
    feats = features.float()
    pieces, order = [], []
    for i in range(n):
        sel = torch.where(batch_index == i)[0]
        if sel.numel() == 0:
            continue
        v = F.grid_sample(feats[i:i + 1], grid[sel].reshape(1, -1, s, 2), mode="bilinear", padding_mode="border",
                          align_corners=True)  # (1, C, K_i * S, S)
        pieces.append(F.avg_pool2d(v, g).view(c, sel.numel(), output_size, output_size))  # the g x g samples
        order.append(sel)
    out = torch.cat(pieces, dim=1).permute(1, 0, 2, 3)  # (K, C, out, out) in the order of `order`
    order = torch.cat(order)
    if not torch.equal(order, torch.arange(k, device=order.device)):
        out = out[torch.argsort(order)]
    return out.contiguous().to(features.dtype)
