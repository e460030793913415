"""A whole synthetic metaphase spread: placement, touching and crossing, distractors and imaging."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from . import distractors as dis
from .chromosome import ChromosomePatch, render_chromosome
from .ideogram import CHROMOSOMES, karyotype

TRAIN_SEEDS = range(1_000_000_000)
"""Seeds for training and validation sets."""
HELD_OUT_SEEDS = range(1_000_000_000, 2_000_000_000)
"""Seeds reserved for held-out test sets: never train on them."""

OVERLAP_TAU = 0.5
"""The paper's Eq. 14 threshold: a chromosome overlaps when the other boxes cover at least half of its box."""


@dataclass(frozen=True)
class SpreadConfig:
    """What to generate. Sizes are in output pixels; chromosome lengths scale with min(width/1600, height/1200)."""

    width: int = 1600
    height: int = 1200
    count: int | None = None  # None: 46 mostly, 45 or 47 now and then
    overlap_target: float = 0.095  # mean share of chromosomes in the paper's Eq. 14 subset (Table 4: 8.8-9.8%)
    chr1_length: tuple[float, float] = (90.0, 140.0)  # chromosome 1's length at 1600x1200 (px)
    distractors: bool = True  # nuclei, debris, dust, fibres, out-of-focus blobs (never labelled)
    frame_prob: float = 0.3  # a CytoVision frame line, often with a blank margin outside it
    frame_cut_mean: float = 1.0  # mean number of a neighbouring cell's chromosomes cut by the frame line (Poisson)
    loose_cell_prob: float = 0.12  # cells whose sister chromatids run fully apart (loose wavy X shapes)
    lowres_prob: float = 0.2  # captured at a smaller size (e.g. 693x553) and upscaled
    jpeg_prob: float = 0.08  # JPEG artefacts
    render_image: bool = True  # False: masks, boxes and meta only (fast path for statistics)


@dataclass
class Spread:
    """A generated spread: grey image (chromosomes dark on light), exact boxes and metadata."""

    image: np.ndarray  # uint8 (H, W)
    boxes: np.ndarray  # float32 (N, 4): x1, y1, x2, y2, exclusive right/bottom edge
    meta: dict
    masks: list[tuple[int, int, np.ndarray]] = field(default_factory=list)  # (x0, y0, bool mask) per box


def overlap_flags(boxes: np.ndarray, tau: float = OVERLAP_TAU) -> np.ndarray:
    """The paper's Eq. 14: box i is in the overlapping subset when sum_j IoG(G_j, G_i) >= tau."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(b) == 0:
        return np.zeros(0, bool)
    iw = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    np.fill_diagonal(inter, 0.0)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
    return inter.sum(axis=1) / area >= tau


def _pick_count(config: SpreadConfig, rng: np.random.Generator) -> int:
    if config.count is not None:
        return int(config.count)
    r = rng.random()
    return 45 if r < 0.05 else 47 if r < 0.10 else 46


def _grow(mask: np.ndarray) -> np.ndarray:
    """The mask padded by 2 px and dilated by a radius-2 diamond (what counts as touching)."""
    h, w = mask.shape
    out = np.zeros((h + 4, w + 4), bool)
    for dy in range(-2, 3):
        for dx in range(-2 + abs(dy), 3 - abs(dy)):
            out[2 + dy:2 + dy + h, 2 + dx:2 + dx + w] |= mask
    return out


class _Placer:
    """Places chromosome patches in a loose ellipse, steering the Eq. 14 overlap share towards a target."""

    def __init__(self, rng, width, height, content, count, scale):
        self.rng = rng
        self.occ = np.zeros((height, width), bool)
        self.content = content  # x0, y0, x1, y1
        cx0, cy0, cx1, cy1 = content
        cw, ch = cx1 - cx0, cy1 - cy0
        self.centre = np.array([(cx0 + cx1) / 2 + rng.uniform(-0.1, 0.1) * cw,
                                (cy0 + cy1) / 2 + rng.uniform(-0.1, 0.1) * ch])
        a = rng.uniform(0.17, 0.3) * 1600 * scale * np.sqrt(count / 46)
        self.axes = np.array([a, a * rng.uniform(0.65, 1.0)])
        self.angle = rng.uniform(0, np.pi)
        self.boxes: list[tuple[int, int, int, int]] = []
        self.box_array = np.zeros((count, 4))
        self.areas = np.ones(count)
        self.cover = np.zeros(count)  # Eq. 14 sum of IoG from the other placed boxes

    def _point(self) -> np.ndarray:
        r = np.sqrt(self.rng.random()) * self.axes
        phi = self.rng.uniform(0, 2 * np.pi)
        u = np.array([np.cos(phi) * r[0], np.sin(phi) * r[1]])
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.centre + np.array([c * u[0] - s * u[1], s * u[0] + c * u[1]])

    def _shift_for(self, p: ChromosomePatch, box, target_centre) -> tuple[int, int] | None:
        bx0, by0, bx1, by1 = box
        dx = int(round(target_centre[0] - (bx0 + bx1) / 2))
        dy = int(round(target_centre[1] - (by0 + by1) / 2))
        cx0, cy0, cx1, cy1 = self.content
        # keep the whole chromosome inside the content area, 3 px from its edge
        dx = min(max(dx, cx0 + 3 - bx0), cx1 - 3 - bx1)
        dy = min(max(dy, cy0 + 3 - by0), cy1 - 3 - by1)
        if bx0 + dx < cx0 or by0 + dy < cy0 or bx1 + dx > cx1 or by1 + dy > cy1:
            return None
        return dx, dy

    def _mask_hits(self, p: ChromosomePatch, dx: int, dy: int, grown: np.ndarray) -> int:
        x0, y0 = p.x0 + dx - 2, p.y0 + dy - 2
        h, w = grown.shape
        H, W = self.occ.shape
        sx0, sy0 = max(0, -x0), max(0, -y0)
        ex, ey = min(w, W - x0), min(h, H - y0)
        return int(np.count_nonzero(self.occ[y0 + sy0:y0 + ey, x0 + sx0:x0 + ex] & grown[sy0:ey, sx0:ex]))

    def flagged(self) -> int:
        """How many placed chromosomes are in the Eq. 14 subset now."""
        return int(np.count_nonzero(self.cover >= OVERLAP_TAU))

    def _cover(self, nb: np.ndarray) -> tuple[float, np.ndarray]:
        """Eq. 14 sums if box `nb` were added: the new box's own, and each placed box's increment."""
        if not self.boxes:
            return 0.0, np.zeros(0)
        b = self.box_array[: len(self.boxes)]
        iw = np.minimum(b[:, 2], nb[2]) - np.maximum(b[:, 0], nb[0])
        ih = np.minimum(b[:, 3], nb[3]) - np.maximum(b[:, 1], nb[1])
        inter = np.maximum(iw, 0) * np.maximum(ih, 0)
        return float(inter.sum() / ((nb[2] - nb[0]) * (nb[3] - nb[1]))), inter / self.areas[: len(self.boxes)]

    def place(self, p: ChromosomePatch, deliberate: bool) -> tuple[int, int]:
        """Chooses a shift for patch `p`: touching or crossing a placed chromosome when `deliberate`, else free."""
        box = p.box()
        grown = _grow(p.mask)
        area = max(1, int(np.count_nonzero(p.mask)))
        n = len(self.boxes)
        cover = self.cover[:n]
        fallback = None
        for attempt in range(160):
            if deliberate and n:
                flagged = np.flatnonzero(cover >= OVERLAP_TAU)
                # a third of the time join an existing cluster, so clusters of three or more form
                pool = flagged if len(flagged) and self.rng.random() < 0.35 else np.arange(n)
                ob = self.box_array[int(pool[self.rng.integers(len(pool))])]
                centre = np.array([(ob[0] + ob[2]) / 2, (ob[1] + ob[3]) / 2])
                half = np.array([ob[2] - ob[0], ob[3] - ob[1]]) / 2
                target = centre + self.rng.uniform(-1, 1, 2) * (half * 0.9 + 4)
            else:
                grow = 1.0 + 0.004 * attempt
                target = self.centre + (self._point() - self.centre) * grow
            shift = self._shift_for(p, box, target)
            if shift is None:
                continue
            dx, dy = shift
            nb = np.array([box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy], np.float64)
            own, inc = self._cover(nb)
            if fallback is None:
                fallback = (dx, dy)
            if deliberate:
                # a real touch or cross that puts the new chromosome in the Eq. 14 subset, without burying it
                if own >= OVERLAP_TAU:
                    hits = self._mask_hits(p, dx, dy, grown)
                    if 0 < hits < 0.35 * area:
                        return self._commit(p, dx, dy, nb, own, inc)
            elif (own < OVERLAP_TAU and not np.any((cover < OVERLAP_TAU) & (cover + inc >= OVERLAP_TAU))
                  and self._mask_hits(p, dx, dy, grown) == 0):
                return self._commit(p, dx, dy, nb, own, inc)
        if fallback is None:  # nothing fits inside the content area: centre it
            fallback = self._shift_for(p, box, self.centre) or (0, 0)
        dx, dy = fallback
        nb = np.array([box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy], np.float64)
        own, inc = self._cover(nb)
        return self._commit(p, dx, dy, nb, own, inc)

    def _commit(self, p: ChromosomePatch, dx: int, dy: int, nb, own: float, inc: np.ndarray) -> tuple[int, int]:
        x0, y0 = p.x0 + dx, p.y0 + dy
        h, w = p.mask.shape
        H, W = self.occ.shape
        sx0, sy0 = max(0, -x0), max(0, -y0)
        ex, ey = min(w, W - x0), min(h, H - y0)
        self.occ[y0 + sy0:y0 + ey, x0 + sx0:x0 + ex] |= p.mask[sy0:ey, sx0:ex]
        n = len(self.boxes)
        self.cover[:n] += inc
        self.cover[n] = own
        self.box_array[n] = nb
        self.areas[n] = (nb[2] - nb[0]) * (nb[3] - nb[1])
        self.boxes.append(tuple(int(v) for v in nb))
        return dx, dy


def generate_spread(seed: int, config: SpreadConfig = SpreadConfig()) -> Spread:
    """Generates the spread for `seed`: the same seed and config give the same pixels, boxes and metadata."""
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a non-negative 63-bit integer, got {seed}")
    W, H = int(config.width), int(config.height)
    if W < 64 or H < 64:
        raise ValueError(f"a spread needs at least 64x64 px, got {W}x{H}")
    ss = np.random.SeedSequence(seed)
    ss_cell, ss_chrom, ss_each, ss_place, ss_dis, ss_img = ss.spawn(6)
    rng_cell, rng_chrom, rng_place, rng_dis, rng_img = (np.random.default_rng(s)
                                                        for s in (ss_cell, ss_chrom, ss_place, ss_dis, ss_img))
    scale = min(W / 1600, H / 1200)
    count = _pick_count(config, rng_cell)
    names = karyotype(count, rng_cell)

    # the cell: condensation, stain, chromatid behaviour
    chr1 = rng_cell.uniform(*config.chr1_length) * scale
    condensed = (config.chr1_length[1] * scale - chr1) / max(1e-6, (config.chr1_length[1] - config.chr1_length[0])
                                                              * scale)
    aspect = rng_cell.uniform(3.8, 9.0)  # chr1 length / width: stout condensed cells to slender prometaphase ones
    width0 = max(7.0 * scale, chr1 / aspect)
    od_base = rng_cell.uniform(0.07, 0.17)
    od_band = rng_cell.uniform(0.75, 1.3)
    band_sigma = rng_cell.uniform(0.8, 2.2) * scale * (1 + 0.5 * condensed)
    loose_cell = rng_cell.random() < config.loose_cell_prob
    splay_share = rng_cell.uniform(0.05, 0.45)
    optical_blur = rng_cell.uniform(0.7, 1.8) * scale  # applied per object (blur is linear in optical density)
    frame = rng_cell.random() < config.frame_prob
    if frame:
        fx0 = int(rng_cell.uniform(0.01, 0.05) * W)
        fy0 = int(rng_cell.uniform(0.02, 0.09) * H)
        fx1 = W - 1 - int(rng_cell.uniform(0.01, 0.05) * W)
        fy1 = H - 1 - int(rng_cell.uniform(0.02, 0.09) * H)
        content = (fx0 + 1, fy0 + 1, fx1, fy1)
        blank_outside = rng_cell.random() < 0.7
    else:
        content = (0, 0, W, H)
        blank_outside = False

    patches: list[ChromosomePatch] = []
    for name, ss_one in zip(names, ss_each.spawn(len(names))):
        ct = CHROMOSOMES[name]
        length = chr1 * ct.length * rng_chrom.uniform(0.9, 1.1)
        width = width0 * rng_chrom.uniform(0.9, 1.1) * (0.92 + 0.08 * ct.length)
        if loose_cell and rng_chrom.random() < 0.8:
            style = "loose"
        else:
            style = "splayed" if rng_chrom.random() < splay_share else "parallel"
        curl = float(np.clip((length / (110 * scale)) ** 2 * rng_chrom.uniform(0.2, 1.0), 0, 1))
        defocus = rng_chrom.uniform(0.6, 1.6) * scale if rng_chrom.random() < 0.2 else 0.0
        patches.append(render_chromosome(ct, length, width, np.random.default_rng(ss_one), style=style,
                                         od_base=od_base, od_band=od_band, band_sigma=band_sigma, curl=curl,
                                         blur=float(np.hypot(optical_blur, defocus)),
                                         mask_only=not config.render_image))

    # placement, larger chromosomes first (with some shuffling), steering the Eq. 14 share
    order = np.argsort(-np.array([p.length for p in patches]) * rng_place.uniform(0.7, 1.3, len(patches)))
    target = float(np.clip(rng_place.normal(config.overlap_target, 0.04), 0.0, 0.4)) if config.overlap_target > 0 \
        else 0.0
    placer = _Placer(rng_place, W, H, content, count, scale)
    shifts: dict[int, tuple[int, int]] = {}
    for k, i in enumerate(order):
        want = target * (k + 1)
        deliberate = k > 0 and placer.flagged() + 0.6 < want and rng_place.random() < 0.7
        shifts[int(i)] = placer.place(patches[i], deliberate)
    boxes = np.zeros((count, 4), np.float32)
    masks = []
    for i, p in enumerate(patches):
        dx, dy = shifts[i]
        b = p.box()
        boxes[i] = (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)
        masks.append((p.x0 + dx, p.y0 + dy, p.mask))
    flags = overlap_flags(boxes)
    meta = {
        "seed": int(seed),
        "count": count,
        "chromosomes": names,
        "overlap": [bool(f) for f in flags],
        "overlap_share": float(flags.mean()) if count else 0.0,
        "overlap_target": target,
        "chr1_length_px": float(chr1),
        "scale": float(scale),
        "width_px": float(width0),
        "styles": [p.style for p in patches],
        "loose_cell": bool(loose_cell),
        "frame": [int(v) for v in (content[0] - 1, content[1] - 1, content[2], content[3])] if frame else None,
    }
    if not config.render_image:
        return Spread(image=np.full((H, W), 255, np.uint8), boxes=boxes, meta=meta, masks=masks)

    od = np.zeros((H, W), np.float32)
    for i, p in enumerate(patches):
        dx, dy = shifts[i]
        dis.add_patch(od, p.od, p.x0 + dx, p.y0 + dy)
    distractor_meta = _add_distractors(od, placer.occ, rng_dis, content, frame, blank_outside, scale, config,
                                       od_base, od_band, band_sigma, optical_blur)
    image, imaging = _image(od, rng_img, scale, config, content if frame else None, blank_outside)
    imaging["blur"] = float(optical_blur)
    meta["distractors"] = distractor_meta
    meta["imaging"] = imaging
    return Spread(image=image, boxes=boxes, meta=meta, masks=masks)


def _free(occ: np.ndarray, x0: int, y0: int, patch: np.ndarray) -> bool:
    """True when `patch`'s nonzero pixels placed at (x0, y0) touch no chromosome mask."""
    H, W = occ.shape
    h, w = patch.shape
    sx0, sy0 = max(0, -x0), max(0, -y0)
    ex, ey = min(w, W - x0), min(h, H - y0)
    if ex <= sx0 or ey <= sy0:
        return True
    return not np.any(occ[y0 + sy0:y0 + ey, x0 + sx0:x0 + ex] & (patch[sy0:ey, sx0:ex] > 0.02))


def _add_distractors(od, occ, rng, content, frame, blank_outside, scale, config, od_base, od_band, band_sigma,
                     blur) -> dict:
    H, W = od.shape
    counts = {"nuclei": 0, "debris": 0, "dust": 0, "fibres": 0, "blur_blobs": 0, "stray_chromosomes": 0,
              "cut_chromosomes": 0}
    stray = frame and not blank_outside
    if not config.distractors:
        return counts
    cx0, cy0, cx1, cy1 = content

    def neighbour_chromosome():
        """A random chromosome of another cell (never labelled), drawn in this cell's stain."""
        name = list(CHROMOSOMES)[rng.integers(24)]
        return render_chromosome(CHROMOSOMES[name], 100 * scale * CHROMOSOMES[name].length, 14 * scale, rng,
                                 style="parallel", od_base=od_base, od_band=od_band, band_sigma=band_sigma, blur=blur,
                                 curl=0.2)

    def put(patch, x0, y0, key, check=True):
        if check and not _free(occ, x0, y0, patch):
            return False
        dis.add_patch(od, patch, x0, y0)
        counts[key] += 1
        return True

    # interphase nuclei, often cut by the image or frame edge
    n_nuc = rng.choice(5, p=[0.3, 0.35, 0.2, 0.1, 0.05])
    for _ in range(n_nuc):
        radius = rng.uniform(55, 150) * scale
        patch = dis.nucleus(rng, radius, rng.uniform(0.25, 0.6))
        ph, pw = patch.shape
        for _try in range(12):
            if rng.random() < 0.55:  # at an edge of the content area
                side = rng.integers(4)
                t = rng.uniform(0, 1)
                cut = rng.uniform(-0.4, 0.6) * radius
                px = [cx0 - cut, cx1 + cut, cx0 + t * (cx1 - cx0), cx0 + t * (cx1 - cx0)][side]
                py = [cy0 + t * (cy1 - cy0), cy0 + t * (cy1 - cy0), cy0 - cut, cy1 + cut][side]
            else:
                px, py = rng.uniform(cx0, cx1), rng.uniform(cy0, cy1)
            # now and then a nucleus lies under the edge of the spread (chromosomes on it stay labelled)
            if put(patch, int(px - pw / 2), int(py - ph / 2), "nuclei", check=rng.random() > 0.1):
                break
    # debris: small dark irregular bits
    for _ in range(rng.poisson(6)):
        patch = dis.blob(rng, rng.uniform(1.5, 7) * scale, rng.uniform(0.2, 1.6), rng.uniform(0, 1))
        patch = ndimage.gaussian_filter(np.pad(patch, 3), blur)
        put(patch, int(rng.uniform(0, W)), int(rng.uniform(0, H)), "debris")
    # dust: tiny faint specks anywhere
    for _ in range(rng.poisson(35)):
        patch = dis.blob(rng, rng.uniform(0.6, 2.0) * scale, rng.uniform(0.03, 0.25), 0.5)
        put(patch, int(rng.uniform(0, W)), int(rng.uniform(0, H)), "dust", check=False)
    # fibres and scratches
    for _ in range(rng.poisson(3)):
        patch, fx, fy = dis.fibre(rng, rng.uniform(15, 90) * scale, rng.uniform(0.04, 0.18), rng.uniform(0.5, 0.9))
        put(patch, int(rng.uniform(0, W)) + fx, int(rng.uniform(0, H)) + fy, "fibres", check=False)
    # out-of-focus smudges
    for _ in range(rng.poisson(3)):
        r = rng.uniform(8, 40) * scale
        patch = ndimage.gaussian_filter(dis.blob(rng, r, rng.uniform(0.02, 0.08), 0.6), r / 3)
        put(patch, int(rng.uniform(0, W)), int(rng.uniform(0, H)), "blur_blobs", check=False)
    # chromosomes of another cell outside the frame line: never labelled
    if stray:
        for _ in range(rng.integers(0, 5)):
            p = neighbour_chromosome()
            side = rng.integers(4)
            px = [rng.uniform(0, cx0), rng.uniform(cx1, W), rng.uniform(0, W), rng.uniform(0, W)][side]
            py = [rng.uniform(0, H), rng.uniform(0, H), rng.uniform(0, cy0), rng.uniform(cy1, H)][side]
            h, w = p.od.shape
            x0, y0 = int(px - w / 2), int(py - h / 2)
            # keep it fully outside the content area
            if x0 + w <= cx0 or x0 >= cx1 or y0 + h <= cy0 or y0 >= cy1:
                put(p.od, x0, y0, "stray_chromosomes", check=False)
    # chromosomes of a neighbouring cell cut by the frame line, as in real exports (a blank margin removes the part
    # outside): never labelled, and never touching a labelled chromosome. Drawn last so that they change nothing else.
    if frame:
        for _ in range(rng.poisson(config.frame_cut_mean)):
            p = neighbour_chromosome()
            h, w = p.od.shape
            side, t, inside = rng.integers(4), rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.7)
            # the patch's far edge lies `inside` of its extent across the line, inside the frame
            x0 = [cx0 - w + inside * w, cx1 - inside * w, cx0 + t * (cx1 - cx0) - w / 2,
                  cx0 + t * (cx1 - cx0) - w / 2][side]
            y0 = [cy0 + t * (cy1 - cy0) - h / 2, cy0 + t * (cy1 - cy0) - h / 2, cy0 - h + inside * h,
                  cy1 - inside * h][side]
            put(p.od, int(x0), int(y0), "cut_chromosomes", check=True)
    return counts


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """Unit normal camera noise shared by all images of a process (windows are picked per image)."""
    return np.random.default_rng(20240917).standard_normal((1536, 2048), dtype=np.float32)


def _lowres_blur(a: np.ndarray, sigma: float, f: int = 4) -> np.ndarray:
    """Gaussian blur of a large array with a wide kernel, computed at 1/f resolution and upsampled."""
    H, W = a.shape
    h, w = H // f, W // f
    small = a[:h * f, :w * f].reshape(h, f, w, f).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma / f)
    return np.asarray(Image.fromarray(small, mode="F").resize((W, H), Image.BILINEAR), np.float32)


def _image(od, rng, scale, config, frame, blank_outside) -> tuple[np.ndarray, dict]:
    H, W = od.shape
    halo = rng.uniform(0.1, 0.5) if rng.random() < 0.35 else 0.0
    if halo:  # unsharp masking in the export: a faint bright rim around dark objects
        wide = _lowres_blur(od, rng.uniform(3.0, 8.0) * scale)
        od *= 1 + halo
        od -= halo * wide
    bg = rng.uniform(222, 250)
    # illumination: broad unevenness, vignetting and a fine mottle, built at 1/4 resolution
    f = 4
    h, w = H // f + 1, W // f + 1
    field = 1.0 + rng.uniform(0.004, 0.02) * dis.smooth_noise(rng, h, w, 500 * scale / f)
    yy = (np.arange(h, dtype=np.float32) * f - H / 2 + rng.uniform(-0.2, 0.2) * H) / H
    xx = (np.arange(w, dtype=np.float32) * f - W / 2 + rng.uniform(-0.2, 0.2) * W) / W
    field -= rng.uniform(0.0, 0.06) * (yy[:, None] ** 2 + xx[None, :] ** 2)
    field += rng.uniform(0.002, 0.008) * dis.smooth_noise(rng, h, w, 12 * scale / f)
    illum = np.asarray(Image.fromarray((bg * field).astype(np.float32), mode="F").resize((W, H), Image.BILINEAR))
    np.negative(od, out=od)
    np.exp(od, out=od)
    img = od
    img *= illum
    noise_sd = rng.uniform(0.8, 3.0)
    # camera noise: a random window of a fixed bank of normal noise (fresh draws cost more than the rest)
    bank = _noise_bank()
    if H <= bank.shape[0] and W <= bank.shape[1]:
        oy, ox = int(rng.integers(0, bank.shape[0] - H + 1)), int(rng.integers(0, bank.shape[1] - W + 1))
        window = bank[oy:oy + H, ox:ox + W]
        if rng.random() < 0.5:
            window = window[::-1]
        if rng.random() < 0.5:
            window = window[:, ::-1]
    else:
        window = rng.standard_normal((H, W), dtype=np.float32)
    img += window * np.float32(noise_sd)
    np.clip(img, 0, 255, out=img)
    out = (img + 0.5).astype(np.uint8)
    # contrast and gamma as a lookup table on the 8-bit image
    gamma = float(np.exp(rng.normal(0, 0.12)))
    lo = rng.uniform(0, 25)
    lut = np.clip(lo + (255 - lo) * (np.arange(256) / 255.0) ** gamma, 0, 255).round().astype(np.uint8)
    out = lut[out]
    info = {"halo": float(halo), "background": float(bg), "noise_sd": float(noise_sd),
            "gamma": gamma, "lowres": None, "jpeg_quality": None}
    if rng.random() < config.lowres_prob:
        f = rng.uniform(1.5, 2.4)
        small = Image.fromarray(out).resize((max(8, int(W / f)), max(8, int(H / f))), Image.BILINEAR)
        out = np.asarray(small.resize((W, H), Image.BICUBIC if rng.random() < 0.5 else Image.BILINEAR))
        info["lowres"] = [small.width, small.height]
    if frame is not None:
        out = out.copy()
        x0, y0, x1, y1 = frame[0] - 1, frame[1] - 1, frame[2], frame[3]
        if blank_outside:
            keep = out[y0:y1 + 1, x0:x1 + 1].copy()
            out[:] = 255
            out[y0:y1 + 1, x0:x1 + 1] = keep
        line = int(rng.uniform(90, 150))
        out[y0, x0:x1 + 1] = line
        out[y1, x0:x1 + 1] = line
        out[y0:y1 + 1, x0] = line
        out[y0:y1 + 1, x1] = line
    if rng.random() < config.jpeg_prob:
        q = int(rng.integers(35, 90))
        out = jpeg_round_trip(out, q)
        info["jpeg_quality"] = q
    return np.ascontiguousarray(out, np.uint8), info


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """A grey uint8 image saved as JPEG at this quality and decoded again: its compression artefacts."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
