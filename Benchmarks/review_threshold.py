"""`karyocount review threshold` on a simulated lab: the daemon counts real annotated spreads (as they are, or with
the background removed to white as some CytoVision exports are), a scripted "cytologist" reviews every cell through
the review station's API with its annotated count, and the command chooses the threshold from those reviews.

    python3 Benchmarks/review_threshold.py --variant white --out /tmp/lab-white

Needs the release binary (`make release`), Models/default and ../shared/data/tseng. Cells are named
LABnn.NNN.A.png, ten per patient; each image is scaled by its own chromosome width (`case_chromosome_width =
false`), as `karyotrain evaluate` and `lab_shift.py` do, so the figures can be compared with theirs.
"""

import argparse
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Training"))
sys.path.insert(0, str(REPO / "Benchmarks"))

from lab_shift import pale, white

from karyotrain.data import load_voc_sample, voc_ids

VARIANTS = {"original": lambda img: img, "white": white, "pale": pale, "pale-white": lambda img: white(pale(img))}


def api(base: str, path: str, token: str | None = None, body: dict | None = None):
    request = urllib.request.Request(base + path, method="POST" if body is not None else "GET")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
        request.add_header("X-KaryoCount-CSRF", token or "")
    with urllib.request.urlopen(request, data, timeout=60) as response:
        return json.loads(response.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="original")
    ap.add_argument("--voc", default=str(REPO.parent / "shared" / "data" / "tseng"))
    ap.add_argument("--list", default="Training/splits/tseng-calibration.txt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=8479)
    a = ap.parse_args()
    out = Path(a.out)
    drop = out / "drop"
    truth = {}
    for n, ident in enumerate(voc_ids(Path(a.voc), a.list)):
        image, boxes, _ = load_voc_sample(Path(a.voc), ident)
        patient = f"LAB{n // 10 + 1:02d}"
        stem = f"{patient}.{n % 10 + 1:03d}.A"
        (drop / patient).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(VARIANTS[a.variant](image), np.uint8)).save(drop / patient / f"{stem}.png")
        truth[stem] = len(boxes)
    config = out / "karyocount.toml"
    config.write_text(f"""watch_roots = ["{drop}"]
output_root = "{out / 'out'}"
state_dir = "{out / 'state'}"
detector = "deepace"
model = "{REPO / 'Models' / 'default'}"
case_chromosome_width = false
stability_seconds = 0.0
workers = 1
[review]
enabled = true
listen = "127.0.0.1:{a.port}"
""")
    binary = str(REPO / ".build" / "release" / "karyocount")
    base = f"http://127.0.0.1:{a.port}"
    with open(out / "daemon.log", "w") as log:
        daemon = subprocess.Popen([binary, "watch", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=log)
        review_all(base, daemon, truth, a.variant)
    result = subprocess.run([binary, "review", "threshold", "--config", str(config)], capture_output=True, text=True,
                            check=False)
    print(result.stdout + result.stderr)


def review_all(base: str, daemon: subprocess.Popen, truth: dict, variant: str) -> None:
    """Waits until the daemon has counted every cell, reviews each with its annotated count, stops the daemon."""
    try:
        deadline = time.time() + 3600
        while time.time() < deadline:
            try:
                patients = api(base, "/api/patients")
                if sum(p["images_counted"] for p in patients) == len(truth):
                    break
            except OSError:
                pass
            time.sleep(5)
        token = api(base, "/api/session")["csrf_token"]
        reviewed = 0
        for p in api(base, "/api/patients"):
            for cell in api(base, f"/api/patients/{p['patient']}")["cells"]:
                api(base, f"/api/cells/{cell['id']}/review", token,
                    {"count": truth[cell["stem"]], "reviewer": "Simulated cytologist"})
                reviewed += 1
        print(f"{variant}: {reviewed} cells counted and reviewed with their annotated counts")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=120)


if __name__ == "__main__":
    main()
