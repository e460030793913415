"""`python -m karyotrain train --config FILE --budget-seconds N --out DIR [--workers K] [--device auto]`

Time-bounded training on on-the-fly synthetic spreads. Writes DIR/last.pt (resumable: run again with the same
--out to continue), DIR/train.log (one line per --log-every steps with every loss term and images/s) and
DIR/config.json (the resolved configuration).
"""

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import torch

from . import config as config_mod
from .data import collate, image_stats, measure_target_width, training_set
from .export import load_exported, read_checkpoint
from .losses import compute_losses
from .model import DeepACE
from .template import revive_if_dead

TRAIN_SEED_BASE = 0  # TRAIN_SEEDS = range(0, 1e9) in the generator


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_at(cfg, step: int, frac: float) -> float:
    o = cfg["optim"]
    lr = o["lr"]
    for d in o.get("decay_at", []):
        if frac >= d:
            lr *= 0.1
    w = o.get("warmup_steps", 0)
    if step < w:
        lr *= 0.001 + (1 - 0.001) * step / w
    return lr


def resolve_config(cfg: dict) -> dict:
    """Fills measured input statistics (target chromosome width, mean/std) when the config leaves them null."""
    inp = cfg["input"]
    if inp.get("working_scale") == "chromosome-width" and inp.get("target_chromosome_width") is None:
        inp["target_chromosome_width"] = round(measure_target_width(cfg), 3)
    if inp.get("mean") is None or inp.get("std") is None:
        m, s = image_stats(cfg)
        inp["mean"], inp["std"] = round(m, 2), round(s, 2)
    return cfg


def load_init(path) -> dict:
    """The parts of a checkpoint that `--init` uses; an exported model folder (float16 weights upcast) gives the same."""
    p = Path(path)
    if not p.is_dir():
        return read_checkpoint(p)
    model = load_exported(p, rescore=False)  # a rescorer is valid for the weights it was fitted on only
    training = json.loads((p / "config.json").read_text()).get("training", {})
    cfg = dict(model.cfg, seed_offset=training.get("seed_offset", 0))
    return {"cfg": cfg, "model": model.state_dict(), "images": training.get("images", 0), "info": training}


def init_config(trained: dict, run: dict, run_file: dict | None = None) -> dict:
    """A run started from trained weights keeps what the weights depend on (architecture, input statistics, working
    scale) and takes how to train from the new configuration: its data, optim, the sampling keys its file sets
    (`config.RPN_TRAINING_KEYS`, `config.BOX_HEAD_TRAINING_KEYS`) and an `input.intensity_range` it sets. A box head the run's file makes wider than the
    weights' is the one change of architecture: `widen_box_head` grows the weights to it."""
    over = {"name": run["name"], "data": run["data"], "optim": run["optim"]}
    given = run_file or {}
    for section, keys in (("rpn", config_mod.RPN_TRAINING_KEYS), ("box_head", config_mod.BOX_HEAD_TRAINING_KEYS)):
        chosen = {k: v for k, v in given.get(section, {}).items() if k in keys}
        if chosen:
            over[section] = chosen
    if "intensity_range" in given.get("input", {}):  # a new rule for the images, not a change the weights depend on
        over["input"] = {"intensity_range": given["input"]["intensity_range"]}
    wider = given.get("box_head", {}).get("representation_size")
    if wider is not None and wider > trained["box_head"]["representation_size"]:
        over.setdefault("box_head", {})["representation_size"] = wider
    return config_mod.merge(trained, over)


def widen_box_head(state: dict, size: int, seed: int = 0) -> dict:
    """The weights with the two-FC box head grown to `size` units without changing what the model computes
    (function-preserving widening, as Net2Net's aim): the new fc6 and fc7 units get fresh default-initialised
    weights, and every weight from a new unit into an old fc7 unit or into cls_score and bbox_pred is zero, so the
    outputs are the same at first and the new units learn from the first step on."""
    out = dict(state)
    old = state["roi_heads.fc6.weight"].shape[0]
    if size <= old:
        return out
    gen = torch.Generator().manual_seed(seed)
    fresh6 = torch.nn.Linear(state["roi_heads.fc6.weight"].shape[1], size)
    fresh7 = torch.nn.Linear(size, size)
    for layer in (fresh6, fresh7):
        bound = 1 / layer.in_features ** 0.5
        layer.weight.data.uniform_(-bound, bound, generator=gen)
        layer.bias.data.uniform_(-bound, bound, generator=gen)
    w6, b6 = fresh6.weight.data.clone(), fresh6.bias.data.clone()
    w6[:old], b6[:old] = state["roi_heads.fc6.weight"], state["roi_heads.fc6.bias"]
    w7, b7 = fresh7.weight.data.clone(), fresh7.bias.data.clone()
    w7[:old, :old], w7[:old, old:], b7[:old] = state["roi_heads.fc7.weight"], 0.0, state["roi_heads.fc7.bias"]
    out.update({"roi_heads.fc6.weight": w6, "roi_heads.fc6.bias": b6,
                "roi_heads.fc7.weight": w7, "roi_heads.fc7.bias": b7})
    for name in ("roi_heads.cls_score.weight", "roi_heads.bbox_pred.weight"):
        w = state[name]
        out[name] = torch.cat([w, w.new_zeros(w.shape[0], size - old)], dim=1)
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m karyotrain train")
    ap.add_argument("--config", required=True)
    ap.add_argument("--budget-seconds", type=float, required=True,
                    help="the run's wall-clock training time in all: a resumed run (same --out) trains what is left "
                         "of it, on the same learning-rate schedule")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=None, help="data loader worker processes")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--checkpoint-every", type=float, default=300.0, help="seconds between checkpoints")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--init", default=None,
                    help="start a new run from these weights (a checkpoint or an exported model folder): their "
                         "architecture and input statistics, the --config file's data and optim sections, a fresh "
                         "optimizer and spreads they were not trained on")
    ap.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto",
                    help="bf16 autocast: auto = on CUDA only; bf16 also on CPU (to rehearse a GPU run's dtypes)")
    return ap.parse_args(argv)


def start_run(a, ckpt_path: Path, device):
    """The run's configuration, model and optimizer, resumed from `ckpt_path`, started from `--init` weights, or
    new; and the step, seconds and images already done."""
    resume = read_checkpoint(ckpt_path) if ckpt_path.exists() else None
    init = load_init(a.init) if a.init and not resume else None
    if resume:
        cfg = resume["cfg"]
    elif init:
        cfg = init_config(init["cfg"], config_mod.load(a.config), json.loads(Path(a.config).read_text()))
    else:
        cfg = resolve_config(config_mod.load(a.config))
    torch.manual_seed(cfg.get("seed", 0) + (resume["step"] if resume else 0))
    model = DeepACE(cfg).to(device)
    o = cfg["optim"]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    step, elapsed_before, images_before = 0, 0.0, 0
    if resume:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        step, elapsed_before = resume["step"], resume["elapsed"]
        images_before = resume.get("images", 0)
    elif init:
        model.load_state_dict(widen_box_head(init["model"], cfg["box_head"]["representation_size"]))
        cfg["init"] = {"checkpoint": str(a.init), **init.get("info", {})}
        # Spreads the weights have seen are not drawn again (also through a chain of such runs).
        cfg["seed_offset"] = init["cfg"].get("seed_offset", 0) + init.get("images", 0)
    return cfg, model, opt, params, step, elapsed_before, images_before


def make_loader(cfg: dict, a, device, images_before: int):
    """The training stream from the first spread not yet seen, in batches; data workers as configured."""
    d = cfg["data"]
    workers = d.get("workers", 2) if a.workers is None else a.workers
    if a.threads is None and device.type == "cuda" and workers > 0:
        # The data workers keep the cores busy: more intra-op threads here only contend with them.
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - workers))
    ds = training_set(cfg, TRAIN_SEED_BASE + cfg.get("seed_offset", 0) + images_before)
    loader = torch.utils.data.DataLoader(ds, batch_size=d["batch_size"], shuffle=False, num_workers=workers,
                                         collate_fn=functools.partial(collate, cfg=cfg),
                                         persistent_workers=workers > 0, prefetch_factor=2 if workers else None)
    return loader, workers


def main(argv) -> int:
    a = parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = pick_device(a.device)
    ckpt_path = out / "last.pt"
    cfg, model, opt, params, step, elapsed_before, images_before = start_run(a, ckpt_path, device)
    o = cfg["optim"]
    (out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    total_budget = a.budget_seconds
    loader, workers = make_loader(cfg, a, device, images_before)
    bs = cfg["data"]["batch_size"]
    amp = a.amp == "bf16" or (a.amp == "auto" and device.type == "cuda")

    def emit(line):
        print(line, flush=True)
        with open(out / "train.log", "a") as log:
            log.write(line + "\n")

    emit(f"# start step {step} elapsed {elapsed_before:.0f}s budget {a.budget_seconds:.0f}s device {device} "
         f"depth {cfg['backbone']['depth']} batch {bs} workers {workers} target_width "
         f"{cfg['input'].get('target_chromosome_width')} mean {cfg['input']['mean']} std {cfg['input']['std']}")
    model.train()
    t0 = time.time()
    last_ckpt = t0
    window_t, window_imgs = t0, 0
    sums = {}
    images = images_before

    def save():
        info = {"steps": step, "seconds": round(elapsed_before + time.time() - t0, 1), "images": images,
                "device": str(device), "config": str(a.config)}
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"cfg": cfg, "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "elapsed": elapsed_before + time.time() - t0, "images": images, "info": info}, tmp)
        os.replace(tmp, ckpt_path)

    for x, sizes, targets in loader:
        now = time.time()
        elapsed = elapsed_before + now - t0
        if elapsed >= total_budget or (a.max_steps is not None and step >= a.max_steps):
            break
        lr = lr_at(cfg, step, elapsed / total_budget)
        for g in opt.param_groups:
            g["lr"] = lr
        x = x.to(device, non_blocking=True)
        targets = [t.to(device) for t in targets]
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            losses = compute_losses(model, x, sizes, targets)
        loss = losses["total"]
        if not torch.isfinite(loss):
            emit(f"# step {step}: non-finite loss {float(loss)}; batch skipped")
            opt.zero_grad(set_to_none=True)
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, o.get("grad_clip", 10.0))
        opt.step()
        peaks = getattr(model, "template_foreground_peaks", None)
        if peaks is not None and revive_if_dead(model.roi_heads.template, peaks):
            for p in model.roi_heads.template.conv.parameters():
                opt.state[p].pop("momentum_buffer", None)  # the momentum that drove it dead
            emit(f"# step {step}: Template Module dead on {100 * float((peaks <= 0).float().mean()):.0f}% of "
                 f"foreground RoIs (median peak {float(peaks.median()):.2f}); conv re-standardized")
        step += 1
        images += x.shape[0]
        window_imgs += x.shape[0]
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        if step % a.log_every == 0:
            dt = time.time() - window_t
            terms = " ".join(f"{k} {v / a.log_every:.4f}" for k, v in sums.items())
            emit(f"step {step} t {elapsed:.0f}s lr {lr:.5f} {terms} img/s {window_imgs / max(dt, 1e-9):.2f}")
            sums, window_t, window_imgs = {}, time.time(), 0
        if time.time() - last_ckpt >= a.checkpoint_every:
            save()
            last_ckpt = time.time()
    save()
    emit(f"# done step {step} images {images} seconds {elapsed_before + time.time() - t0:.0f}; "
         f"checkpoint {ckpt_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
