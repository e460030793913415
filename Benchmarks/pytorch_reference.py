#!/usr/bin/env python3
"""Side-by-side speed of the DeepACEv2 inference: PyTorch CPU (Training/karyotrain, the reference model) and the
Swift engine (`karyocount bench`), same architecture, same weights, same input size, in one run.

    swift build -c release
    python3 Benchmarks/pytorch_reference.py --depth 101 --size 1600x1200 --runs 3 [--threads 2]

The script builds the model from Training/karyotrain with its default (seeded) initialisation, exports it with
karyotrain's exporter to a temporary Models-style folder, times PyTorch on a synthetic spread (median of --runs after a
warm-up), then runs `.build/release/karyocount bench --model THAT_FOLDER` (same runs) and prints both medians, the
ratio and the machine's load average before and after. Both sides time steps 4-15 of Training/MODEL.md on an input
already at working scale (the working-scale estimate is skipped: `input.working_scale` is set to "fixed").
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Training"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=101, choices=[18, 34, 50, 101])
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--swift", default=str(REPO / ".build" / "release" / "karyocount"))
    ap.add_argument("--skip-swift", action="store_true")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    import numpy as np
    import torch

    from karyotrain import config as config_mod
    from karyotrain.export import export_model
    from karyotrain.model import DeepACE, prepare

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    cfg = config_mod.merge(config_mod.DEFAULT, {
        "name": f"bench-r{args.depth}", "backbone": {"depth": args.depth},
        "input": {"working_scale": "fixed", "scale": 1.0}})
    model = DeepACE(cfg).eval()
    rng = np.random.default_rng(12345)
    image = np.full((h, w), 230.0, dtype=np.float32)
    for _ in range(46):
        cx, cy, ang = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, np.pi)
        length, half = rng.uniform(32, 128), rng.uniform(4, 8)
        yy, xx = np.mgrid[0:h, 0:w]
        along = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
        across = -(xx - cx) * np.sin(ang) + (yy - cy) * np.cos(ang)
        image[(np.abs(along) <= length / 2) & (np.abs(across) <= half)] = 64.0
    x, size, _, _ = prepare(image, cfg, factor=1.0)

    load_before = os.getloadavg()
    times = []
    with torch.inference_mode():
        for i in range(args.runs + 1):
            t0 = time.perf_counter()
            model.detect_tensor(x, size)
            dt = time.perf_counter() - t0
            if i > 0:
                times.append(dt)
    torch_median = statistics.median(times)
    result = {"depth": args.depth, "size": [w, h], "runs": args.runs, "torch_threads": torch.get_num_threads(),
              "torch_version": torch.__version__, "torch_median_s": torch_median, "torch_times_s": times,
              "load_before": load_before}
    if not args.skip_swift:
        with tempfile.TemporaryDirectory() as tmp:
            folder = export_model(model, Path(tmp) / "bench-model")
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads))
            out = subprocess.run([args.swift, "bench", "--model", str(folder), "--size", args.size, "--runs",
                                  str(args.runs), "--json"], check=True, capture_output=True, text=True, env=env)
        swift = json.loads(out.stdout)
        swift_median = swift["median_ms"]["total"] / 1000
        result.update(swift=swift, swift_median_s=swift_median, ratio_swift_over_torch=swift_median / torch_median)
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    print(f"PyTorch {torch_median:.2f} s", end="")
    if "swift_median_s" in result:
        print(f", Swift {result['swift_median_s']:.2f} s, ratio {result['ratio_swift_over_torch']:.2f}", end="")
    print(f" (ResNet-{args.depth} P3, {args.size}, load {load_before[0]:.1f} -> {result['load_after'][0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
