"""Training data: on-the-fly synthetic spreads at the working scale, flipped and scale-jittered."""

import math

import numpy as np
import torch

from . import scale as ws


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


def transform(image: np.ndarray, boxes: np.ndarray, cfg: dict, rng=None):
    """Working-scale resize (+ jitter and flip when rng is given). Boxes follow the image."""
    d = cfg["data"]
    f = ws.working_factor(image, cfg["input"])
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
    img = ws.resize(img, (h1, w1))
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
