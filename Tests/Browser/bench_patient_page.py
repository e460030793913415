"""Benchmark (not a test): how long the review station takes to render one patient with 100 cells.

Writes 100 distinct synthetic spreads for one patient, counts them with the classical detector (`watch --once`),
serves them (`watch`), then requests the patient page and its API 20 times each over loopback and prints the
median, min and max in ms. The time includes the loopback round trip, so it bounds the server's time from above.

    python3 Tests/Browser/bench_patient_page.py [--binary .build/release/karyocount] [--cells 100] [--runs 20]
"""

import argparse
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from daemon_harness import free_port, wait_until_counted, write_config
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def spread(rng, width=400, height=300, n=46):
    """A pale field with `n` dark rods, different for every seed."""
    image = np.full((height, width), 230, np.uint8)
    for _ in range(n):
        x, y = int(rng.integers(10, width - 30)), int(rng.integers(10, height - 30))
        w, h = (int(rng.integers(4, 8)), int(rng.integers(12, 24)))
        if rng.random() < 0.5:
            w, h = h, w
        image[y:y + h, x:x + w] = 60
    return image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build/release/karyocount"))
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        drop = root / "drop" / "BENCH"
        drop.mkdir(parents=True)
        rng = np.random.default_rng(7)
        for i in range(args.cells):
            Image.fromarray(spread(rng)).save(drop / f"BENCH.{i + 1:03d}.A.png")
        port = free_port()
        config = write_config(root, root / "drop", port, detector="classical", stability_seconds=0.0, workers=2)
        subprocess.run([args.binary, "watch", "--config", str(config), "--once"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        daemon = subprocess.Popen([args.binary, "watch", "--config", str(config)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_counted(daemon, base, args.cells, timeout=20)
            for path in ("/patients/BENCH", "/api/patients/BENCH"):
                times = []
                for _ in range(args.runs + 1):
                    start = time.perf_counter()
                    body = urllib.request.urlopen(base + path, timeout=10).read()
                    times.append((time.perf_counter() - start) * 1000)
                times = times[1:]  # the first request warms the connection and caches
                print(f"{path}: {args.cells} cells, {len(body)} bytes, median {statistics.median(times):.1f} ms "
                      f"(min {min(times):.1f}, max {max(times):.1f}; n={args.runs})")
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)


if __name__ == "__main__":
    main()
