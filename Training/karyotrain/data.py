"""Training data: on-the-fly synthetic spreads and real annotated spreads (Pascal VOC) at the working scale,
augmented for what a second lab changes (flips, 90-degree turns, scale, contrast, blur, background, illumination)."""

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from . import intensity
from . import scale as ws

REPO = Path(__file__).resolve().parents[2]


class SynthSpreads(torch.utils.data.Dataset):
    """Item i is spread `first_seed + i` of the generator, brought to the working scale (MODEL.md step 2) with a
    random scale jitter and a horizontal flip with probability 0.5. Yields (image (H,W) float 0..255, boxes (N,4))."""

    def __init__(self, cfg: dict, first_seed: int, length: int = 10 ** 8, augment: bool = True):
        self.cfg = cfg
        self.first_seed = first_seed
        self.length = length
        self.augment = augment

    def __len__(self):
        return self.length

    def spread(self, i):
        from .synth import SpreadConfig, generate_spread
        d = self.cfg["data"]
        return generate_spread(self.first_seed + i, SpreadConfig(width=d["width"], height=d["height"],
                                                                 **d.get("synth", {})))

    def __getitem__(self, i):
        s = self.spread(i)
        return transform(s.image, s.boxes, self.cfg, np.random.default_rng((self.first_seed + i) * 7919 + 17)
                         if self.augment else None)


def read_voc(path: Path):
    """(boxes (N,4) float32 x1 y1 x2 y2 with exclusive right/bottom, class names) of a Pascal VOC file; VOC's
    inclusive pixel coordinates become exclusive ones (x2 = xmax + 1), as the generator's boxes are."""
    root = ET.parse(path).getroot()
    boxes, names = [], []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        x1, y1, x2, y2 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([x1, y1, x2 + 1, y2 + 1])
        names.append(obj.findtext("name", ""))
    return np.asarray(boxes, np.float32).reshape(-1, 4), names


def voc_ids(root: Path, listing: str):
    """The IDs of a list file: a file of the VOC folder (`train.txt`), else a path from the repository root
    (`Training/splits/tseng-fit.txt`)."""
    path = root / listing if (root / listing).exists() else REPO / listing
    return [i for i in path.read_text().split() if i]


def load_grey(path: Path) -> np.ndarray:
    """A grey uint8 image of any file Pillow reads; RGB becomes grey by its luma."""
    return np.array(Image.open(path).convert("L"))


def voc_image(root: Path, ident: str) -> Path:
    """images/ID.jpg (the public sets), else images/ID.png (what `karyocount review export-labels` writes)."""
    jpg = root / "images" / f"{ident}.jpg"
    return jpg if jpg.exists() else root / "images" / f"{ident}.png"


def load_voc_sample(root: Path, ident: str):
    """(grey uint8 image, boxes, class names) of one VOC image."""
    image = load_grey(voc_image(root, ident))
    boxes, names = read_voc(root / "annotations" / f"{ident}.xml")
    return image, boxes, names


def photometric(image: np.ndarray, rng) -> np.ndarray:
    """What another lab's microscope and export change: gamma and contrast, blur, the background flattened or
    removed to white, uneven illumination, JPEG. Geometry is untouched, so boxes stay valid."""
    g = image.astype(np.float32) / 255.0
    if rng.random() < 0.5:
        g = g ** float(rng.uniform(0.6, 1.6))
    if rng.random() < 0.5:
        lo, hi = float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.85, 1.0))
        g = lo + (hi - lo) * g
    if rng.random() < 0.25:
        g = ndimage.gaussian_filter(g, float(rng.uniform(0.5, 1.8)))
    if rng.random() < 0.3:
        h, w = g.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = float(rng.uniform(0, 2 * math.pi))
        ramp = (np.cos(a) * xx / w + np.sin(a) * yy / h)
        g = g * (1.0 - float(rng.uniform(0.05, 0.25)) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6))
    if rng.random() < 0.25:  # a weaker stain or a brighter lamp: the chromosomes paler against the background
        b = float(np.percentile(g, 90))
        g = b - (b - g) * float(rng.uniform(0.4, 0.85))
    if rng.random() < 0.3:
        g = background_removed(g, float(rng.uniform(0.85, 0.95)))
    out = np.clip(np.rint(g * 255.0), 0, 255).astype(np.uint8)
    if rng.random() < 0.15:
        from .synth.spread import jpeg_round_trip
        out = np.array(jpeg_round_trip(out, int(rng.integers(40, 90))))
    return out


def background_removed(g: np.ndarray, cut: float) -> np.ndarray:
    """CytoVision's background removal on a 0..1 image: the background is flattened (divided by its smooth estimate:
    every 8th pixel closed over 5 x 5, which removes the chromosomes, then a median over 9 x 9) and everything within
    `cut` of it becomes white. Closing first keeps the chromosomes' width: a median first takes a dense cluster of
    chromosomes for background and thins them."""
    h, w = g.shape
    small = ndimage.median_filter(ndimage.grey_closing(g[::8, ::8], size=5), 9)
    bg = ndimage.zoom(small, 8, order=1)[:h, :w]
    bg = np.pad(bg, ((0, h - bg.shape[0]), (0, w - bg.shape[1])), mode="edge")
    r = g / np.maximum(bg, 1e-3)
    return np.where(r >= cut, 1.0, np.minimum(r, 1.0))


def rotate90(image: np.ndarray, boxes: np.ndarray, k: int):
    """Image turned k quarter turns counter-clockwise (np.rot90) and its boxes with it."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    for _ in range(k % 4):
        w = image.shape[1]
        image = np.rot90(image)
        b = np.stack([b[:, 1], w - b[:, 2], b[:, 3], w - b[:, 0]], axis=1)
    return np.ascontiguousarray(image), b


class VOCSpreads(torch.utils.data.Dataset):
    """Real annotated spreads of a Pascal VOC folder (images/ID.jpg or .png, annotations/ID.xml), the IDs of one list file.
    Item i is image perm[i mod n] of a per-pass shuffle, augmented when asked."""

    def __init__(self, cfg: dict, root, listing: str, augment: bool = True, seed: int = 0):
        self.cfg = cfg
        self.root = Path(root) if Path(root).is_absolute() else REPO / root
        self.ids = voc_ids(self.root, listing)
        self.augment = augment
        self.seed = seed

    def __len__(self):
        return len(self.ids)

    def ident(self, i: int) -> str:
        n = len(self.ids)
        perm = np.random.default_rng(self.seed + i // n).permutation(n)
        return self.ids[perm[i % n]]

    def __getitem__(self, i):
        image, boxes, _ = load_voc_sample(self.root, self.ident(i))
        if not self.augment:
            return transform(image, boxes, self.cfg, None)
        rng = np.random.default_rng((self.seed + i) * 7919 + 29)
        image, boxes = rotate90(image, boxes, int(rng.integers(0, 4)))
        image = photometric(image, rng)
        return transform(image, boxes, self.cfg, rng)


class MixedSpreads(torch.utils.data.Dataset):
    """Item i is a real spread with probability `data.real.fraction`, else synthetic spread first_seed + i."""

    def __init__(self, cfg: dict, first_seed: int, length: int = 10 ** 8):
        real = cfg["data"]["real"]
        self.fraction = float(real.get("fraction", 0.5))
        self.first_seed = first_seed
        self.synth = SynthSpreads(cfg, first_seed, length)
        self.real = VOCSpreads(cfg, real["voc"], real.get("list", "train.txt"), seed=first_seed)
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        if np.random.default_rng(self.first_seed + i).random() < self.fraction:
            return self.real[i]
        return self.synth[i]


def training_set(cfg: dict, first_seed: int):
    """The training stream a config asks for: synthetic spreads, mixed with real VOC spreads when `data.real` is set."""
    if cfg["data"].get("real"):
        return MixedSpreads(cfg, first_seed)
    return SynthSpreads(cfg, first_seed)


def transform(image: np.ndarray, boxes: np.ndarray, cfg: dict, rng=None):
    """Working-scale resize and intensity range (+ jitter and flip when rng is given). Boxes follow the image."""
    d = cfg["data"]
    f = ws.working_factor(image, cfg["input"])
    gain, offset = intensity.linear_map(image, cfg["input"])
    img = torch.from_numpy(np.array(image, dtype=np.float32))
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4).clone()
    if rng is not None:
        lo, hi = d.get("scale_jitter", [1.0, 1.0])
        f *= float(rng.uniform(lo, hi))
        if d.get("flip", True) and rng.random() < 0.5:
            img = torch.flip(img, dims=[1])
            w = img.shape[1]
            b = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], dim=1)
    h0, w0 = img.shape
    h1, w1 = ws.output_size(h0, w0, f)
    img = ws.resize(img, (h1, w1)) * gain + offset
    b = b * torch.tensor([w1 / w0, h1 / h0, w1 / w0, h1 / h0])
    keep = ((b[:, 2] - b[:, 0]) >= 1) & ((b[:, 3] - b[:, 1]) >= 1)
    return img, b[keep]


def collate(batch, cfg: dict):
    """Pads to a common multiple-of-32 size with the pad value, normalizes: (N,1,Hp,Wp), sizes, boxes."""
    inp = cfg["input"]
    m = inp["pad_multiple"]
    hp = int(math.ceil(max(im.shape[0] for im, _ in batch) / m) * m)
    wp = int(math.ceil(max(im.shape[1] for im, _ in batch) / m) * m)
    x = torch.full((len(batch), 1, hp, wp), float(inp["pad_value"]))
    for i, (im, _) in enumerate(batch):
        x[i, 0, :im.shape[0], :im.shape[1]] = im
    x = (x - float(inp["mean"])) / float(inp["std"])
    return x, [tuple(im.shape) for im, _ in batch], [b for _, b in batch]


def measure_target_width(cfg: dict, n: int = 16, first_seed: int = 0) -> float:
    """Median estimated chromosome width over n training spreads at the generator's native scale."""
    ds = SynthSpreads(cfg, first_seed, n, augment=False)
    widths = [w for w in (ws.estimate_chromosome_width(ds.spread(i).image) for i in range(n)) if w is not None]
    return float(np.median(widths))


def image_stats(cfg: dict, n: int = 8, first_seed: int = 0):
    """Mean and std of pixel values over n spreads (for input.mean / input.std)."""
    ds = SynthSpreads(cfg, first_seed, n, augment=False)
    v = np.concatenate([ds.spread(i).image.reshape(-1)[::7] for i in range(n)]).astype(np.float64)
    return float(v.mean()), float(v.std())
