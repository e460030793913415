"""One chromosome rendered in its own small patch: two sister chromatids along a smooth bent centreline.

Each sister chromatid is a tube around its own curve. The curves follow the chromosome's centreline, offset to
either side; they are pinched together at the centromere and may splay apart towards the ends (X and V shapes)
or run fully apart with a wavy course (loose X shapes with thin curly arms, as in cells with separated sisters).
Every pixel of the patch gets an axial coordinate (from the nearest curve sample, found with a Euclidean distance
transform, refined by projection on the local tangent) and a radial distance; density, constriction, bands and
rounded ends follow from those two numbers. The label mask is the set of pixels inside either tube (density at
least one half), so a box taken from it is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .distractors import smooth_noise
from .ideogram import PROFILE_SAMPLES, ChromosomeType

STYLES = ("parallel", "splayed", "loose")


@dataclass
class ChromosomePatch:
    """A rendered chromosome: optical density and label mask in a patch whose top-left pixel is (x0, y0)."""

    od: np.ndarray  # float32 (h, w), optical density contribution
    mask: np.ndarray  # bool (h, w)
    x0: int
    y0: int
    name: str
    length: float
    style: str

    def box(self) -> tuple[int, int, int, int]:
        """Tight extent of the mask in patch-origin coordinates, exclusive right and bottom edges."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        return (self.x0 + int(cols[0]), self.y0 + int(rows[0]), self.x0 + int(cols[-1]) + 1,
                self.y0 + int(rows[-1]) + 1)


def _derivative(c: np.ndarray) -> np.ndarray:
    """Per-sample derivative of a sampled curve (central differences, one-sided at the ends)."""
    d = np.empty_like(c)
    d[1:-1] = (c[2:] - c[:-2]) * 0.5
    d[0] = c[1] - c[0]
    d[-1] = c[-1] - c[-2]
    return d


def _centreline(length: float, rng: np.random.Generator, curl: float,
                angle: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Samples of a smooth random curve of the given arc length: points (n, 2) and unit normals (n, 2)."""
    n = int(np.ceil(length * 1.6)) + 2
    s = np.linspace(0.0, length, n)
    u = s / length
    theta = np.full(n, rng.uniform(0.0, 2.0 * np.pi) if angle is None else angle)
    # gentle overall bend plus a low-frequency wobble
    theta += rng.normal(0.0, 0.22) * u + rng.normal(0.0, 0.08) * np.sin(2 * np.pi * u * rng.uniform(0.5, 1.5)
                                                                        + rng.uniform(0, 2 * np.pi))
    # a localized bend (often near the centromere or mid-arm)
    if rng.random() < 0.3 + 0.4 * curl:
        bend = rng.normal(0.0, 0.5 + 1.0 * curl)
        centre, width = rng.uniform(0.25, 0.75), rng.uniform(0.04, 0.15)
        theta += bend * 0.5 * (1.0 + np.tanh((u - centre) / width))
    # curling of long chromosomes: steady curvature
    if curl > 0 and rng.random() < curl:
        theta += rng.normal(0.0, 1.2 * curl) * u ** rng.uniform(1.0, 2.0)
    ds = length / (n - 1)
    dx, dy = np.cos(theta) * ds, np.sin(theta) * ds
    pts = np.stack([np.concatenate([[0.0], np.cumsum(dx[:-1])]), np.concatenate([[0.0], np.cumsum(dy[:-1])])], 1)
    normal = np.stack([-np.sin(theta), np.cos(theta)], 1)
    return pts, normal


def render_chromosome(
    ct: ChromosomeType, length: float, width: float, rng: np.random.Generator, *,
    style: str, od_base: float, od_band: float, band_sigma: float, blur: float, curl: float,
    angle: float | None = None, mask_only: bool = False,
) -> ChromosomePatch:
    """Renders one chromosome of type `ct`, `length` px long and `width` px wide (both chromatids), at the origin.

    `style` is one of STYLES. `od_base` is the optical density of pale chromatin, `od_band` the extra density of the
    darkest band; `band_sigma` blurs the band pattern along the axis (px, condensation); `blur` (px) is the optical blur of this
    chromosome (the system's blur combined with its own defocus). `angle` fixes the initial direction (radians),
    else it is random. `mask_only` skips the optical density (the mask and all geometry are the same: every random
    draw that shapes the mask comes before those that only texture it).
    """
    if style not in STYLES:
        raise ValueError(f"unknown chromatid style {style!r}; expected one of {STYLES}")
    pts, nor = _centreline(length, rng, curl, angle)
    n = len(pts)
    s = np.linspace(0.0, length, n)
    sc = ct.centromere * length
    rc = width / 4.0 * 1.12  # one chromatid's radius
    wc = max(2.0, 0.09 * length)  # centromere constriction half-width (px)
    near_c = np.exp(-(((s - sc) / wc) ** 2))
    if style == "loose":
        rc *= rng.uniform(0.6, 0.8)
        half = rc * rng.uniform(1.4, 2.2) * (1 - 0.75 * near_c)
    else:
        half = rc * rng.uniform(0.72, 0.92) * (1 - 0.45 * near_c)
    arm_p = np.clip((sc - s) / max(sc, 1.0), 0, 1)
    arm_q = np.clip((s - sc) / max(length - sc, 1.0), 0, 1)
    amount = {"parallel": 0.0, "splayed": 1.0, "loose": 1.8}[style]
    sp_p = rng.uniform(0.1, 1.0) ** 1.5 * 1.6 * rc * amount if rng.random() < 0.8 else 0.0
    sp_q = rng.uniform(0.1, 1.0) ** 1.5 * 1.6 * rc * amount if rng.random() < 0.8 else 0.0
    power = rng.uniform(1.2, 2.5)
    offsets = []
    for sign in (-1.0, 1.0):
        jitter = rng.uniform(0.8, 1.2)
        h = half + jitter * (sp_p * arm_p ** power + sp_q * arm_q ** power)
        if style == "loose":
            wavelength = rng.uniform(16.0, 40.0) * rc / 4.0
            amp = rc * rng.uniform(0.4, 1.0)
            h += amp * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi)) * (1 - near_c)
        offsets.append(sign * h)
    curves = [(pts + off[:, None] * nor).astype(np.float32) for off in offsets]
    # constriction of each chromatid's radius at the centromere
    radius = rc * (1.0 - (0.3 if style != "loose" else 0.1) * near_c)
    radius *= 1.0 + 0.07 * np.interp(s, np.linspace(0, length, 8), rng.standard_normal(8))  # uneven thickness
    radius = radius.astype(np.float32)
    margin = rc + 3.0 + 3.0 * blur
    allp = np.concatenate(curves)
    x0 = int(np.floor(allp[:, 0].min() - margin))
    y0 = int(np.floor(allp[:, 1].min() - margin))
    w = int(np.ceil(allp[:, 0].max() + margin)) - x0 + 1
    h = int(np.ceil(allp[:, 1].max() + margin)) - y0 + 1
    profile = ct.profile
    if band_sigma > 0:
        profile = ndimage.gaussian_filter1d(profile, band_sigma * PROFILE_SAMPLES / length, mode="nearest")
    # stain and radius tabulated along the main axis parameter s
    stain_s = np.interp(s, (np.arange(PROFILE_SAMPLES) + 0.5) / PROFILE_SAMPLES * length, profile)
    od_s = (od_base + od_band * stain_s).astype(np.float32)
    ds = np.float32(length / (n - 1))
    od = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), bool)
    od_flat, mask_flat = od.ravel(), mask.ravel()
    rmax = float(radius.max())
    # tangents of both chromatid curves, stacked: sample j of chromatid c has index c * n + j
    curve = np.concatenate(curves)
    d_curve = np.concatenate([_derivative(c) for c in curves])
    seg = np.maximum(np.hypot(d_curve[:, 0], d_curve[:, 1]), 1e-6).astype(np.float32)
    tx, ty = d_curve[:, 0] / seg, d_curve[:, 1] / seg
    radius2 = np.concatenate([radius, radius])
    od_s2 = np.concatenate([od_s, od_s])
    # nearest curve sample (of either chromatid) for every pixel via the EDT's feature transform
    seeds = np.ones((h, w), bool)
    label = np.zeros((h, w), np.int32)
    ix = np.clip(np.rint(curve[:, 0] - x0).astype(int), 0, w - 1)
    iy = np.clip(np.rint(curve[:, 1] - y0).astype(int), 0, h - 1)
    order = np.arange(2 * n).reshape(2, n).T.ravel()  # interleave so neither chromatid hides the other's seeds
    seeds[iy[order], ix[order]] = False
    label[iy[order], ix[order]] = order
    dist_seed, idx = ndimage.distance_transform_edt(seeds, return_indices=True)
    # only pixels near a curve can be inside a tube
    sel = np.flatnonzero(dist_seed.ravel() < rmax + 2.0)
    nearest = label.ravel()[idx[0].ravel()[sel] * w + idx[1].ravel()[sel]]
    py, px = np.divmod(sel, w)
    vx = (px + x0).astype(np.float32) - curve[nearest, 0]
    vy = (py + y0).astype(np.float32) - curve[nearest, 1]
    tnx, tny = tx[nearest], ty[nearest]
    along = vx * tnx + vy * tny  # px along the chromatid from the nearest sample
    across = vy * tnx - vx * tny
    base = nearest - nearest % n
    # position along the chromatid in samples; beyond either end the distance is to the end point (rounded caps)
    k = (nearest - base).astype(np.float32) + along / seg[nearest]
    excess = np.maximum(-k, 0.0) * seg[base] + np.maximum(k - (n - 1), 0.0) * seg[base + n - 1]
    k = np.minimum(np.maximum(k, 0.0), n - 1.0)
    dist = np.sqrt(across * across + excess * excess)
    k0 = k.astype(np.int32)
    f = k - k0
    k0 += base
    k1 = np.minimum(k0 + 1, base + n - 1)
    # ragged outline: the radius wobbles on a scale of a few pixels
    wobble = smooth_noise(rng, h, w, max(2.5, rc * 0.8)).ravel()[sel]
    r = (radius2[k0] * (1 - f) + radius2[k1] * f) * (1.0 + 0.1 * wobble)
    mask_flat[sel] = dist < r
    if mask_only:
        return ChromosomePatch(od=od, mask=mask, x0=x0, y0=y0, name=ct.name, length=length, style=style)
    dens = np.minimum(np.maximum(r - dist + 0.5, 0.0), 1.0)
    rel = dist / r
    dome = 0.72 + 0.28 * np.sqrt(np.maximum(1.0 - rel * rel, 0.0))
    # bands: not quite straight across, each chromatid slightly shifted, blotchy chromatin
    fine = smooth_noise(rng, h, w, 2.5).ravel()[sel]
    jitter = fine * (0.8 / float(ds))
    jitter += np.where(base == 0, 1.0, -1.0) * rng.uniform(0, 0.7) / float(ds)
    kb = np.minimum(np.maximum(k0 - base + f + jitter, 0.0), n - 1.0)
    kb0 = kb.astype(np.int32)
    fb = kb - kb0
    kb0 += base
    kb1 = np.minimum(kb0 + 1, base + n - 1)
    stain = (od_s2[kb0] * (1 - fb) + od_s2[kb1] * fb) * (1.0 + 0.16 * fine + 0.18 * wobble)
    od_flat[sel] = dens * dome * stain
    # a faint pale fringe of loose chromatin just outside the outline (not part of the label mask)
    fringe = rng.uniform(0.0, 0.5) * od_base
    od += ndimage.gaussian_filter(mask.astype(np.float32), 1.5 + 0.5 * blur, truncate=3.0) * fringe * (od == 0)
    if blur > 0.05:
        od = ndimage.gaussian_filter(od, blur, truncate=3.0)
    return ChromosomePatch(od=od, mask=mask, x0=x0, y0=y0, name=ct.name, length=length,
                           style=style)
