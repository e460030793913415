"""Unlabelled objects of a metaphase slide: interphase nuclei, debris, dust, fibres and out-of-focus blobs.

Each is drawn as optical density into the spread's OD canvas (added, clipped to the canvas); none is labelled.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage


def add_patch(canvas: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """Adds `patch` into `canvas` with its top-left pixel at (x0, y0), clipped to the canvas."""
    h, w = canvas.shape
    ph, pw = patch.shape
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + pw, w), min(y0 + ph, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    canvas[cy0:cy1, cx0:cx1] += patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]


@lru_cache(maxsize=4096)
def _interp_weights(n: int, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices and smoothstep weights that interpolate `cells` control points onto n samples."""
    pos = np.linspace(0.0, cells - 1.0, n, dtype=np.float32)
    i0 = np.minimum(pos.astype(np.intp), cells - 2)
    t = pos - i0
    t = t * t * (3.0 - 2.0 * t)
    return i0, 1.0 - t, t


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth random field of shape (h, w), values about unit size, with features about `cell` px across."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    small = rng.standard_normal((gh, gw), dtype=np.float32)
    i0, a, b = _interp_weights(h, gh)
    rows = small[i0] * a[:, None] + small[i0 + 1] * b[:, None]
    j0, c, d = _interp_weights(w, gw)
    return rows[:, j0] * c + rows[:, j0 + 1] * d


def nucleus(rng: np.random.Generator, radius: float, od: float) -> np.ndarray:
    """An interphase nucleus: a lumpy ellipse with mottled chromatin, darker rim and a few chromocentres.

    Drawn at half resolution and enlarged (it is smooth at that scale), which keeps big nuclei cheap.
    """
    full = int(radius * 2.6) + 8
    radius = radius / 2
    size = full // 2 + 1
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
    ang = rng.uniform(0, np.pi)
    c, s = np.cos(ang), np.sin(ang)
    ecc = rng.uniform(0.7, 1.0)
    u = (xx * c + yy * s) / radius
    v = (-xx * s + yy * c) / (radius * ecc)
    phi = np.arctan2(v, u)
    wobble = 1 + 0.06 * np.sin(2 * phi + rng.uniform(0, 6.3)) + 0.04 * np.sin(3 * phi + rng.uniform(0, 6.3))
    if rng.random() < 0.4:  # kidney shape
        wobble -= 0.12 * np.exp(-((phi - rng.uniform(-3, 3)) ** 2) / 0.3)
    rr = np.sqrt(u * u + v * v) / wobble
    body = np.clip((1.0 - rr) * radius / 3.0 + 0.5, 0, 1)
    tex = 1 + 0.22 * smooth_noise(rng, size, size, radius / 6) + 0.16 * smooth_noise(rng, size, size, 1.5)
    rim = 1 + 0.15 * np.clip(rr - 0.75, 0, 1) * 4
    spots = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(2, 9)):
        cy, cx = rng.uniform(-0.6, 0.6, 2) * radius + size / 2
        sr = rng.uniform(2, 6) * radius / 80
        spots += rng.uniform(0.2, 0.6) * np.exp(-((yy + size / 2 - cy) ** 2 + (xx + size / 2 - cx) ** 2) / (2 * sr * sr))
    half = (od * body * (tex * rim + spots)).astype(np.float32)
    return np.asarray(Image.fromarray(half, mode="F").resize((full, full), Image.BILINEAR), np.float32)


def blob(rng: np.random.Generator, radius: float, od: float, irregular: float) -> np.ndarray:
    """A small irregular blob (debris), or with radius large and od small a soft out-of-focus smudge."""
    size = int(radius * 3) + 6
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
    phi = np.arctan2(yy, xx)
    wob = 1 + irregular * (0.3 * np.sin(2 * phi + rng.uniform(0, 6.3)) + 0.2 * np.sin(5 * phi + rng.uniform(0, 6.3)))
    rr = np.sqrt(xx * xx + yy * yy) / (radius * wob)
    return (od * np.clip((1 - rr) * radius + 0.5, 0, 1)).astype(np.float32)


def fibre(rng: np.random.Generator, length: float, od: float, thickness: float) -> tuple[np.ndarray, int, int]:
    """A thin curly fibre or scratch; returns the patch and its top-left offset relative to the start point."""
    n = int(length) + 2
    theta = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.12, n))
    x = np.cumsum(np.cos(theta))
    y = np.cumsum(np.sin(theta))
    x0, y0 = int(np.floor(x.min())) - 3, int(np.floor(y.min())) - 3
    w, h = int(np.ceil(x.max())) - x0 + 4, int(np.ceil(y.max())) - y0 + 4
    patch = np.zeros((h, w), np.float32)
    np.add.at(patch, (np.rint(y - y0).astype(int), np.rint(x - x0).astype(int)), 1.0)
    patch = ndimage.gaussian_filter(np.minimum(patch, 1.0), thickness) * (od * 2.5 * thickness)
    return patch, x0, y0
