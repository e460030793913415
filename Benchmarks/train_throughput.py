"""Where a training step's time goes: the data loader alone, one step on a fixed batch, and both together.

    PYTHONPATH=Training python3 Benchmarks/train_throughput.py --config Training/configs/deepace_r34_gpu.json \
        --device cuda --workers 14 --seconds 25

Prints images/s for each phase and the Python functions that take the most time inside the fixed-batch steps
(on a GPU, time spent waiting for the device shows up in the call that synchronizes). The 2026-11-27 GPU run
trained at only 12 images/s on an H200 with 14 generator processes; this tells which side limits it.
"""

import argparse
import cProfile
import functools
import pstats
import time

import torch

from karyotrain import config as config_mod
from karyotrain.data import SynthSpreads, collate
from karyotrain.losses import compute_losses
from karyotrain.model import DeepACE
from karyotrain.train import pick_device, resolve_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    a = ap.parse_args()
    device = pick_device(a.device)
    cfg = resolve_config(config_mod.load(a.config))
    bs = cfg["data"]["batch_size"]
    loader = torch.utils.data.DataLoader(SynthSpreads(cfg, 123_456), batch_size=bs, num_workers=a.workers,
                                         collate_fn=functools.partial(collate, cfg=cfg),
                                         persistent_workers=a.workers > 0)
    batches = iter(loader)
    first = next(batches)

    t0, n = time.time(), 0
    for _ in batches:
        n += bs
        if time.time() - t0 >= a.seconds:
            break
    print(f"loader alone: {n / (time.time() - t0):.1f} images/s ({a.workers} workers)", flush=True)

    model = DeepACE(cfg).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    amp = device.type == "cuda"
    x, sizes, targets = first[0].to(device), first[1], [t.to(device) for t in first[2]]

    def step(x, sizes, targets):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            loss = compute_losses(model, x, sizes, targets)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(x, sizes, targets)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    profile = cProfile.Profile()
    t0, n = time.time(), 0
    profile.enable()
    while time.time() - t0 < a.seconds:
        step(x, sizes, targets)
        n += bs
    sync()
    profile.disable()
    print(f"steps on one fixed batch: {n / (time.time() - t0):.1f} images/s", flush=True)
    pstats.Stats(profile).sort_stats("tottime").print_stats(18)

    t0, n = time.time(), 0
    for xb, sb, tb in batches:
        step(xb.to(device, non_blocking=True), sb, [t.to(device) for t in tb])
        n += bs
        if time.time() - t0 >= a.seconds:
            break
    sync()
    print(f"loader + steps: {n / (time.time() - t0):.1f} images/s", flush=True)


if __name__ == "__main__":
    main()
