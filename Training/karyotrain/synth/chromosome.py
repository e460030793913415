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


def _centreline(length: float, rng: np.random.Generator, curl: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples of a smooth random curve of the given arc length: points (n, 2), unit tangents, unit normals."""
    n = int(np.ceil(length * 1.6)) + 2
    s = np.linspace(0.0, length, n)
    u = s / length
    theta = np.full(n, rng.uniform(0.0, 2.0 * np.pi))
    # gentle overall bend plus a low-frequency wobble
    theta += rng.normal(0.0, 0.22) * u + rng.normal(0.0, 0.08) * np.sin(2 * np.pi * u * rng.uniform(0.5, 1.5)
                                                                        + rng.uniform(0, 2 * np.pi))
    # a localized bend (often near the centromere or mid-arm)
    if rng.random() < 0.3 + 0.4 * curl:
        angle = rng.normal(0.0, 0.5 + 1.0 * curl)
        centre, width = rng.uniform(0.25, 0.75), rng.uniform(0.04, 0.15)
        theta += angle * 0.5 * (1.0 + np.tanh((u - centre) / width))
    # curling of long chromosomes: steady curvature
    if curl > 0 and rng.random() < curl:
        theta += rng.normal(0.0, 1.2 * curl) * u ** rng.uniform(1.0, 2.0)
    ds = length / (n - 1)
    dx, dy = np.cos(theta) * ds, np.sin(theta) * ds
    pts = np.stack([np.concatenate([[0.0], np.cumsum(dx[:-1])]), np.concatenate([[0.0], np.cumsum(dy[:-1])])], 1)
    tangent = np.stack([np.cos(theta), np.sin(theta)], 1)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    return pts, tangent, normal


def render_chromosome(
    ct: ChromosomeType, length: float, width: float, rng: np.random.Generator, *,
    style: str, od_base: float, od_band: float, band_sigma: float, defocus: float, curl: float,
) -> ChromosomePatch:
    """Renders one chromosome of type `ct`, `length` px long and `width` px wide (both chromatids), at the origin.

    `style` is one of STYLES. `od_base` is the optical density of pale chromatin, `od_band` the extra density of the
    darkest band; `band_sigma` blurs the band pattern along the axis (px, condensation); `defocus` blurs the patch.
    """
    pts, tan, nor = _centreline(length, rng, curl)
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
    offsets = []
    for sign in (-1.0, 1.0):
        h = half.copy()
        if style in ("splayed", "loose"):
            arm_p = np.clip((sc - s) / max(sc, 1.0), 0, 1)
            arm_q = np.clip((s - sc) / max(length - sc, 1.0), 0, 1)
            amount = 1.0 if style == "splayed" else 1.8
            sp_p = rng.uniform(0.0, 1.6) * rc * amount if rng.random() < 0.8 else 0.0
            sp_q = rng.uniform(0.0, 1.6) * rc * amount if rng.random() < 0.8 else 0.0
            power = rng.uniform(1.2, 2.5)
            h += sp_p * arm_p ** power + sp_q * arm_q ** power
        if style == "loose":
            wavelength = rng.uniform(10.0, 24.0)
            amp = rc * rng.uniform(0.6, 1.4)
            h += amp * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi)) * (1 - near_c)
        offsets.append(sign * h)
    curves = [pts + off[:, None] * nor for off in offsets]
    # constriction of each chromatid's radius at the centromere
    radius = rc * (1.0 - (0.3 if style != "loose" else 0.1) * near_c)
    margin = rc + 4.0 + 2.5 * defocus
    allp = np.concatenate(curves)
    x0 = int(np.floor(allp[:, 0].min() - margin))
    y0 = int(np.floor(allp[:, 1].min() - margin))
    w = int(np.ceil(allp[:, 0].max() + margin)) - x0 + 1
    h = int(np.ceil(allp[:, 1].max() + margin)) - y0 + 1
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx += x0
    gy += y0
    profile = ct.profile
    if band_sigma > 0:
        profile = ndimage.gaussian_filter1d(profile, band_sigma * PROFILE_SAMPLES / length, mode="nearest")
    prof_x = (np.arange(PROFILE_SAMPLES) + 0.5) / PROFILE_SAMPLES * length
    od = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), bool)
    for curve in curves:
        d_curve = np.gradient(curve, axis=0)
        seg = np.maximum(np.hypot(d_curve[:, 0], d_curve[:, 1]), 1e-6)
        t_unit = d_curve / seg[:, None]
        # nearest curve sample for every pixel via the EDT's feature transform
        seeds = np.ones((h, w), bool)
        label = np.zeros((h, w), np.int32)
        ix = np.clip(np.rint(curve[:, 0] - x0).astype(int), 0, w - 1)
        iy = np.clip(np.rint(curve[:, 1] - y0).astype(int), 0, h - 1)
        seeds[iy, ix] = False
        label[iy, ix] = np.arange(n)
        idx = ndimage.distance_transform_edt(seeds, return_distances=False, return_indices=True)
        nearest = label[idx[0], idx[1]]
        vx = gx - curve[nearest, 0]
        vy = gy - curve[nearest, 1]
        along = vx * t_unit[nearest, 0] + vy * t_unit[nearest, 1]
        across = -vx * t_unit[nearest, 1] + vy * t_unit[nearest, 0]
        ds = length / (n - 1)
        s_pix = s[nearest] + along * ds / seg[nearest]
        u = np.clip(s_pix, 0.0, length)
        excess = (s_pix - u) * seg[nearest] / ds
        dist = np.sqrt(across * across + excess * excess)
        r = np.interp(u, s, radius).astype(np.float32)
        inside = dist < r
        dens = np.clip(r - dist + 0.5, 0.0, 1.0)
        dome = 0.72 + 0.28 * np.sqrt(np.clip(1.0 - (dist / r) ** 2, 0.0, 1.0))
        stain = np.interp(u, prof_x, profile).astype(np.float32)
        od = np.maximum(od, dens * dome * (od_base + od_band * stain))
        mask |= inside
    # granular chromatin texture
    od *= 1.0 + rng.normal(0.0, 0.07, size=od.shape).astype(np.float32)
    if defocus > 0.05:
        od = ndimage.gaussian_filter(od, defocus)
    return ChromosomePatch(od=od.astype(np.float32), mask=mask, x0=x0, y0=y0, name=ct.name, length=length,
                           style=style)
