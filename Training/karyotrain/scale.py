"""The working-scale rule (MODEL.md "Working scale"): measure chromosome width, pick a resize factor, resize."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

MIN_RIDGE_PIXELS = 20
# px: a narrower width is measured again on the image enlarged 2x, where the distance transform is less coarse
UPSAMPLE_BELOW = 10.0
# a hole in the dark mask of at most this fraction of the mask's area is a pale band inside a chromosome, and filled
HOLE_FRACTION = 0.01


def otsu_threshold(g: np.ndarray):
    """First t in 0..255 maximising the between-class variance of the uint8 image g; None for a flat image.

    Computed from integer counts in float64: sb(t) = (S*c0 - s0*N)^2 / (c0*(N - c0)), c0 = #pixels <= t,
    s0 = sum of their values, S = sum of all values, N = #pixels; t with c0 == 0 or c0 == N is skipped.
    """
    hist = np.bincount(g.reshape(-1), minlength=256).astype(np.int64)
    n = int(hist.sum())
    total = int((hist * np.arange(256)).sum())
    c0 = s0 = 0
    best, best_t = -1.0, None
    for t in range(256):
        c0 += int(hist[t])
        s0 += t * int(hist[t])
        if c0 == 0 or c0 == n:
            continue
        num = float(total) * float(c0) - float(s0) * float(n)
        sb = num * num / (float(c0) * float(n - c0))
        if sb > best:
            best, best_t = sb, t
    return best_t


def foreground(g: np.ndarray, t: int) -> np.ndarray:
    """The mask `g <= t` with its small holes filled: 4-connected background components that do not touch the image
    border and have at most HOLE_FRACTION of the mask's pixels (pale bands inside a chromosome; the field inside a
    CytoVision frame line stays background)."""
    fg = g <= t
    labels, n = ndimage.label(~fg)
    if n == 0:
        return fg
    area = np.bincount(labels.reshape(-1), minlength=n + 1)
    hole = area <= HOLE_FRACTION * int(fg.sum())
    hole[0] = False
    hole[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = False
    return fg | hole[labels]


def ridge_distances(g: np.ndarray, t: int) -> np.ndarray:
    """Sorted distances to the background (exact EDT, the image padded by background) of the ridge pixels of the
    mask `foreground(g, t)`: its pixels with D >= 2 that no 8-neighbour inside the image exceeds."""
    fg = foreground(g, t)
    padded = np.pad(fg, 1, constant_values=False)
    d = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
    dp = np.pad(d, 1, constant_values=-1.0)
    h, w = d.shape
    neigh_max = np.full_like(d, -1.0)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            neigh_max = np.maximum(neigh_max, dp[1 + dy:1 + dy + h, 1 + dx:1 + dx + w])
    return np.sort(d[fg & (d >= 2) & (d >= neigh_max)])


def as_grey(pixels) -> np.ndarray:
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float64)), 0, 255).astype(np.uint8)


def measure(image) -> dict:
    """All intermediate values of the width estimate (for golden files and debugging)."""
    pixels = np.asarray(image, dtype=np.float32)
    g = as_grey(pixels)
    t = otsu_threshold(g)
    if t is None:
        return {"threshold": None, "ridge_count": 0, "width": None, "upsampled": False}
    ridge = ridge_distances(g, t)
    n = len(ridge)
    out = {"threshold": int(t), "ridge_count": n, "width": None, "foreground": int((g <= t).sum()),
           "upsampled": False}
    if n < MIN_RIDGE_PIXELS:
        return out
    out["width"] = 2 * float(np.median(ridge))
    if out["width"] < UPSAMPLE_BELOW:
        h, w = g.shape
        big = as_grey(resize(torch.from_numpy(pixels), (2 * h, 2 * w)).numpy())
        ridge2 = ridge_distances(big, t)
        if len(ridge2) >= MIN_RIDGE_PIXELS:
            out["width"], out["upsampled"] = float(np.median(ridge2)), True
    return out


def estimate_chromosome_width(image):
    """Typical chromosome width in pixels of a grey image (dark chromosomes, light background), or None."""
    return measure(image)["width"]


def working_factor(image, input_cfg: dict, width=None) -> float:
    """Resize factor f of MODEL.md step 2."""
    scale = float(input_cfg.get("scale", 1.0))
    if input_cfg.get("working_scale", "fixed") != "chromosome-width":
        return scale
    if width is None:
        width = estimate_chromosome_width(image)
    if width is None:
        return scale
    r = float(input_cfg["target_chromosome_width"]) / width
    r = min(max(r, float(input_cfg.get("min_factor", 0.5))), float(input_cfg.get("max_factor", 3.0)))
    return r * scale


def output_size(h: int, w: int, f: float):
    return max(1, int(math.floor(h * f + 0.5))), max(1, int(math.floor(w * f + 0.5)))


def resize(image: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resize of a (H,W) float tensor, PyTorch align_corners=False, no antialias."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image[None, None], size=size, mode="bilinear", align_corners=False, antialias=False)[0, 0]
