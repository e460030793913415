"""`python -m karyotrain export`: Models/NAME/config.json + model.safetensors from a training checkpoint.

    python -m karyotrain export --checkpoint runs/x/last.pt --out Models/default [--dtype float16]
"""

import argparse
import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from . import config as config_mod
from . import rescore as rescoring
from .anchors import base_anchors
from .model import DeepACE

FORMAT = "karyocount.model/1"


def export_config(cfg: dict, extra: dict | None = None) -> dict:
    out = {"format": FORMAT}
    for k in config_mod.EXPORT_KEYS:
        out[k] = cfg[k]
    out["anchors"] = dict(cfg["anchors"])
    out["anchors"]["base"] = base_anchors(cfg["anchors"]["sizes"], cfg["anchors"]["aspect_ratios"]).tolist()
    out["rpn"] = {k: v for k, v in cfg["rpn"].items() if k not in config_mod.RPN_TRAINING_KEYS}
    out["rpn"]["bbox_clip"] = math.log(1000.0 / 16)
    out["box_head"] = {k: v for k, v in cfg["box_head"].items() if k not in config_mod.BOX_HEAD_TRAINING_KEYS}
    out["box_head"]["bbox_clip"] = math.log(1000.0 / 16)
    if extra:
        out["training"] = extra
    return out


def state_tensors(model: DeepACE, dtype=torch.float32) -> dict:
    return {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def export_model(model: DeepACE, out_dir, dtype=torch.float32, extra=None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(export_config(model.cfg, extra), indent=1) + "\n")
    save_file(state_tensors(model, dtype), str(out / "model.safetensors"), metadata={"format": FORMAT})
    return out


def load_exported(model_dir, device="cpu", rescore=True) -> DeepACE:
    """Builds the model from config.json and loads model.safetensors (float16 upcast); strict on names/shapes. With
    rescore, a `rescore` section loads rescore.safetensors as `model.rescorer` (MODEL.md step 18)."""
    d = Path(model_dir)
    cfg = json.loads((d / "config.json").read_text())
    if cfg.get("format") != FORMAT:
        raise ValueError(f"{d / 'config.json'}: format {cfg.get('format')!r}, expected {FORMAT!r}")
    full = config_mod.merge(config_mod.DEFAULT, {k: v for k, v in cfg.items() if k not in ("format", "training", "rescore")})
    if isinstance(cfg.get("training", {}).get("data"), dict):
        full["data"] = config_mod.merge(full["data"], cfg["training"]["data"])
    model = DeepACE(full)
    tensors = {k: v.float() for k, v in load_file(str(d / "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{d}: missing tensors {missing}, unexpected {unexpected}")
    if rescore and "rescore" in cfg:
        model.rescorer = rescoring.load(d, cfg["rescore"])
    return model.to(device).eval()


def read_checkpoint(path) -> dict:
    """A training checkpoint (`train` writes DIR/last.pt): cfg, model, optimizer, step, elapsed, images, info."""
    return torch.load(path, map_location="cpu", weights_only=False)


def checkpoint_model(ck: dict, device="cpu") -> DeepACE:
    """The model of a read checkpoint, in eval mode."""
    model = DeepACE(ck["cfg"])
    model.load_state_dict(ck["model"])
    return model.to(device).eval()


def load_checkpoint(path, device="cpu") -> DeepACE:
    """The model of the checkpoint file at `path`, in eval mode."""
    return checkpoint_model(read_checkpoint(path), device)


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m karyotrain export")
    ap.add_argument("--checkpoint", help="training checkpoint (.pt)")
    ap.add_argument("--out", help="output model folder, e.g. Models/default")
    ap.add_argument("--dtype", choices=["float16", "float32"], default="float32")
    ap.add_argument("--method", choices=["eg-nms", "nms", "soft-nms"], help="override postprocess.method")
    ap.add_argument("--detections-per-img", type=int,
                    help="override box_head.detections_per_img (the most detections post-processing keeps)")
    ap.add_argument("--count-threshold", type=float,
                    help="override postprocess.count_threshold (the score a detection needs to be counted; choose "
                         "it on spreads the model was not trained on, e.g. Training/splits/tseng-calibration.txt)")
    a = ap.parse_args(argv)
    if not (a.checkpoint and a.out):
        ap.error("give --checkpoint and --out")
    ck = read_checkpoint(a.checkpoint)
    model = checkpoint_model(ck)
    if a.method:
        model.cfg["postprocess"]["method"] = a.method
    if a.detections_per_img:
        model.cfg["box_head"]["detections_per_img"] = a.detections_per_img
    if a.count_threshold is not None:
        model.cfg["postprocess"]["count_threshold"] = a.count_threshold
    extra = {"checkpoint": str(a.checkpoint), **ck.get("info", {}), "data": ck["cfg"].get("data")}
    if "init" in ck["cfg"]:
        extra["init"] = ck["cfg"]["init"]  # the run these weights continued (train --init)
        extra["seed_offset"] = ck["cfg"]["seed_offset"]  # generator seeds below this were trained on before
    out = export_model(model, a.out, torch.float16 if a.dtype == "float16" else torch.float32, extra)
    size = (out / "model.safetensors").stat().st_size
    print(f"wrote {out}/config.json and model.safetensors ({size / 1e6:.1f} MB, {a.dtype})")
    return 0
