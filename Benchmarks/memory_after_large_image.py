"""Benchmark (not a test): the daemon's resident memory before, during and after one very large image.

Starts `karyocount watch` on a temp drop folder, counts three 1600x1200 spreads (the steady state), then one
10000x10000 PNG (about 120 KB on disk, 400 MB as floats), then ten more ordinary spreads, sampling VmRSS every
0.2 s. Prints the steady-state RSS, the peak, and the RSS after the large image, in MB.

    python3 Benchmarks/memory_after_large_image.py [--binary .build/release/karyocount] [--detector auto]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "Browser"))

from daemon_harness import free_port, wait_until_counted, write_config

SPREAD = REPO / "Samples/drop/18-Y2087/18-Y2087.145.O.png"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build/release/karyocount"))
    parser.add_argument("--detector", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        drop = root / "drop"
        drop.mkdir()
        port = free_port()
        config = write_config(root, drop, port, detector=args.detector, model=str(REPO / "Models/default"),
                              stability_seconds=0.5)
        daemon = subprocess.Popen([args.binary, "watch", "--config", str(config)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        samples = []
        done = threading.Event()

        def sample():
            while not done.is_set():
                samples.append(rss_mb(daemon.pid))
                time.sleep(0.2)

        def drop_and_wait(files, expected):
            for f in files:
                f()
            assert wait_until_counted(daemon, base, expected, timeout=1200), "the daemon exited or stalled"
            time.sleep(1.0)

        def spread(i):
            image = np.array(Image.open(SPREAD).convert("L").resize((1600, 1200)))
            image[0, :8] = np.frombuffer(i.to_bytes(8, "little"), np.uint8)  # distinct content, same picture
            return lambda: Image.fromarray(image).save(drop / f"STEADY.{i:03d}.A.png")

        threading.Thread(target=sample, daemon=True).start()
        try:
            drop_and_wait([spread(i) for i in range(1, 4)], 3)
            steady = rss_mb(daemon.pid)
            print(f"steady {steady:.0f} MB after 3 spreads", flush=True)

            def large():
                big = np.full((10000, 10000), 235, np.uint8)
                big[4000:4100, 4000:4020] = 40
                Image.fromarray(big).save(drop / "LARGE.001.A.png")

            start = len(samples)
            drop_and_wait([large], 4)
            peak = max(samples[start:])
            after_large = rss_mb(daemon.pid)
            print(f"peak {peak:.0f} MB during the large image, {after_large:.0f} MB after it", flush=True)
            drop_and_wait([spread(i) for i in range(4, 14)], 13)
            after_more = rss_mb(daemon.pid)
        finally:
            done.set()
            daemon.terminate()
            daemon.wait(timeout=60)
        print(f"detector {args.detector}: steady {steady:.0f} MB after 3 spreads; peak {peak:.0f} MB during the "
              f"10000x10000 image; {after_large:.0f} MB after it; {after_more:.0f} MB after 10 more spreads")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
