"""Golden files for the Swift engine's exactness tests (Tests/KaryoNetTests/Golden/, README there).

A narrow ResNet-18 DeepACEv2 with seeded random weights (non-trivial BN statistics) runs on a 256x192 synthetic
crop; every stage's output is saved. Weights and the score bias are chosen so that the discrete decisions (top-k,
NMS, thresholds, EG-NMS order) are the same in float64 and under a 1e-5 relative weight perturbation, i.e. they
are not knife-edge. The golden config keeps 1000 / 120 RPN proposals (pre / post NMS).

    python -m karyotrain golden --out ../Tests/KaryoNetTests/Golden
"""

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from . import config as config_mod
from . import scale as ws
from .export import export_model
from .model import DeepACE, detect
from .nms import embedding_guided_nms, nms, soft_nms

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "Tests" / "Fixtures" / "real" / "18-Y2087.145.O.png"
GOLDEN_IMAGE = REPO / "Tests" / "KaryoNetTests" / "Golden" / "image.png"
ROI_KEEP = 32


def golden_image() -> np.ndarray:
    """The committed source image (Golden/image.png: a 256x192 crop of a generated spread, kept as a file so that
    the golden files do not change with the generator)."""
    return np.array(Image.open(GOLDEN_IMAGE).convert("L"))


def golden_config(width: float) -> dict:
    return config_mod.merge(config_mod.DEFAULT, {
        "name": "golden-r18-w8",
        "backbone": {"depth": 18, "width": 8},
        "fpn": {"channels": 32},
        "anchors": {"sizes": [16, 32, 48, 64]},
        "rpn": {"pre_nms_top_n": 1000, "post_nms_top_n": 120},
        "box_head": {"representation_size": 64},
        "input": {"mean": 200.0, "std": 60.0, "working_scale": "chromosome-width", "scale": 1.0,
                  "target_chromosome_width": round(0.9 * width, 3)},
    })


def seeded_model(cfg, image, seed: int, cls_bias: float) -> DeepACE:
    g = torch.Generator().manual_seed(seed)
    model = DeepACE(cfg)

    def normal(t, std):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=g) * std)

    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_in = m.weight[0].numel()
            normal(m.weight, (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                normal(m.bias, 0.1)
        elif isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                normal(m.bias, 0.2)
            m.momentum = None  # cumulative average: running stats = this image's statistics
        elif isinstance(m, torch.nn.Linear):
            normal(m.weight, (2.0 / m.weight.shape[1]) ** 0.5)
            normal(m.bias, 0.1)
    rh = model.roi_heads
    normal(model.rpn.cls_logits.weight, 0.5)
    normal(model.rpn.bbox_pred.weight, 0.01)
    normal(model.rpn.bbox_pred.bias, 0.05)
    normal(rh.bbox_pred.weight, 0.02)
    normal(rh.bbox_pred.bias, 0.2)
    normal(rh.cls_score.weight, 0.15)
    with torch.no_grad():
        rh.cls_score.bias.copy_(torch.tensor([0.0, cls_bias]))
    normal(rh.template.fc.weight, 0.3)
    # BN statistics from the image itself, then perturbed so that folding is really exercised.
    from .model import prepare
    x, _, _, _ = prepare(image, cfg)
    model.train()
    with torch.no_grad():
        model.features(x)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                std = m.running_var.sqrt()
                m.running_mean.add_(0.2 * std * torch.randn(std.shape, generator=g))
                m.running_var.mul_(0.7 + 0.7 * torch.rand(std.shape, generator=g))
    return model.eval()


def _run(model, image, dtype=torch.float32):
    trace = {}
    m = copy.deepcopy(model).to(dtype)
    orig = m.detect_tensor

    def detect_tensor(x, size, tr=None):
        return orig(x.to(dtype), size, tr)

    m.detect_tensor = detect_tensor
    r = detect(m, image, trace)
    return r, trace


def _decisions(r, trace):
    return (trace["proposals"].shape[0], tuple(trace["candidates"].tolist()), tuple(trace["det_index"].tolist()),
            r["count"])


def robust(model, image) -> bool:
    r, t = _run(model, image)
    ref = _decisions(r, t)
    r64, t64 = _run(model, image, torch.float64)
    if _decisions(r64, t64) != ref:
        return False
    if not torch.allclose(t64["proposals"].float(), t["proposals"], rtol=1e-4, atol=1e-3):
        return False
    g = torch.Generator().manual_seed(99)
    for _ in range(2):
        p = copy.deepcopy(model)
        with torch.no_grad():
            for v in p.state_dict().values():
                if v.is_floating_point():
                    v.mul_(1 + 1e-5 * torch.randn(v.shape, generator=g, dtype=v.dtype))
        rp, tp = _run(p, image)
        if _decisions(rp, tp) != ref:
            return False
    s = r["scores"]
    return 4 <= r["count"] and s.numel() < 100 and float((s - 0.5).abs().min()) > 2e-3


def nms_cases() -> dict:
    """A hand-made case (documented in the README) and a seeded random one."""
    boxes = torch.tensor([[10, 10, 50, 30], [12, 11, 52, 31], [40, 5, 60, 60], [41, 6, 61, 58],
                          [100, 100, 120, 160], [100, 130, 120, 190], [0, 0, 8, 8], [11, 10, 49, 29]],
                         dtype=torch.float32)
    scores = torch.tensor([0.95, 0.90, 0.85, 0.80, 0.75, 0.70, 0.30, 0.60], dtype=torch.float32)
    emb = torch.tensor([0.0, 0.05, 1.0, 2.2, -1.0, -1.1, 3.0, 0.9], dtype=torch.float32)
    g = torch.Generator().manual_seed(5)
    xy = torch.rand(60, 2, generator=g) * 100
    wh = 5 + torch.rand(60, 2, generator=g) * 30
    rboxes = torch.cat([xy, xy + wh], dim=1)
    rscores = torch.rand(60, generator=g)
    remb = torch.randn(60, generator=g)
    out = {}
    for tag, (b, s, e) in {"hand": (boxes, scores, emb), "random": (rboxes, rscores, remb)}.items():
        out[f"{tag}_boxes"], out[f"{tag}_scores"], out[f"{tag}_embeddings"] = b, s, e
        out[f"{tag}_nms_keep"] = nms(b, s, 0.5)
        i, sc = soft_nms(b, s, 0.5, 100)
        out[f"{tag}_soft_index"], out[f"{tag}_soft_scores"] = i, sc
        i, sc = embedding_guided_nms(b, s, e, 0.3, 0.5, 100)
        out[f"{tag}_eg_index"], out[f"{tag}_eg_scores"] = i, sc
    return out


def write_golden(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    image = golden_image()
    meas = ws.measure(image)
    cfg = golden_config(meas["width"])
    model = None
    for seed in range(40):
        for bias in (-1.0, -1.5, -2.0, -0.5):
            cand = seeded_model(cfg, image, seed, bias)
            if robust(cand, image):
                model = cand
                break
        if model is not None:
            break
    if model is None:
        raise RuntimeError("no robust golden weights found")
    print(f"golden weights: seed {seed}, class-1 bias {bias}")
    export_model(model, out / "model", torch.float32, {"golden": True, "seed": seed, "cls_bias": bias})
    r, t = _run(model, image)
    x = t["input"]
    h1, w1 = t["size"]
    resized = ws.resize(torch.as_tensor(image, dtype=torch.float32), (h1, w1))
    stages = {
        "image": torch.as_tensor(image, dtype=torch.uint8),
        "resized": resized.contiguous(),
        "input": x.contiguous(),
        "c3": t["c3"], "c4": t["c4"], "c5": t["c5"], "p3": t["p3"],
        "rpn_logits": t["rpn_logits"], "rpn_deltas": t["rpn_deltas"], "anchors": t["anchors"],
        "proposals": t["proposals"], "proposal_scores": t["proposal_scores"],
        "roi_features": t["roi_features"][:ROI_KEEP].contiguous(),
        "box_logits": t["box_logits"], "box_deltas": t["box_deltas"], "box_scores": t["box_scores"],
        "box_boxes": t["box_boxes"], "embeddings": t["embeddings"],
        "candidates": t["candidates"], "det_index": t["det_index"],
        "det_boxes": t["det_boxes"], "det_scores": t["det_scores"], "det_embeddings": t["det_embeddings"],
        "det_boxes_source": r["boxes"],
        "count": torch.tensor([r["count"]], dtype=torch.int64),
        "factor": torch.tensor([r["factor"]], dtype=torch.float64),
        "size": torch.tensor([h1, w1], dtype=torch.int64),
        "width": torch.tensor([meas["width"]], dtype=torch.float64),
        "otsu_threshold": torch.tensor([meas["threshold"]], dtype=torch.int64),
        "ridge_count": torch.tensor([meas["ridge_count"]], dtype=torch.int64),
    }
    stages = {k: v.detach().contiguous() for k, v in stages.items()}
    save_file(stages, str(out / "stages.safetensors"))
    real = np.array(Image.open(REAL).convert("L"))
    rm = ws.measure(real)
    scale = {}
    for name, m in (("real", rm), ("golden", meas)):
        scale.update({f"{name}_otsu_threshold": torch.tensor([m["threshold"]], dtype=torch.int64),
                      f"{name}_ridge_count": torch.tensor([m["ridge_count"]], dtype=torch.int64),
                      f"{name}_width": torch.tensor([m["width"]], dtype=torch.float64),
                      f"{name}_upsampled": torch.tensor([int(m["upsampled"])], dtype=torch.int64)})
    save_file(scale, str(out / "scale.safetensors"))
    save_file({k: v.contiguous() for k, v in nms_cases().items()}, str(out / "nms.safetensors"))
    summary = {"image": list(image.shape), "factor": r["factor"], "size": [h1, w1], "width": meas["width"],
               "proposals": int(t["proposals"].shape[0]), "candidates": int(t["candidates"].numel()),
               "detections": int(r["scores"].numel()), "count": r["count"], "seed": seed, "cls_bias": bias,
               "real_width": rm["width"], "real_otsu_threshold": rm["threshold"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m karyotrain golden")
    ap.add_argument("--out", required=True, help="the golden folder, ../Tests/KaryoNetTests/Golden")
    write_golden(Path(ap.parse_args(argv).out))
    return 0
