"""Swift engine vs PyTorch reference on one real image with one exported model: same boxes, scores and count.

    python3 Benchmarks/parity_check.py --model Models/default --image Tests/Fixtures/real/18-Y2087.145.O.png

Runs `karyocount count --detector deepace --model MODEL` (release build) and karyotrain's `detect` on the same
file, matches the detections one to one in order, and prints the largest box and score differences.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Training"))

from karyotrain.export import load_exported
from karyotrain.model import detect


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--binary", default=str(ROOT / ".build/release/karyocount"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([a.binary, "count", a.image, "--out", out, "--detector", "deepace", "--model", a.model],
                       check=True, capture_output=True)
        result = json.loads(next(Path(out).glob("*.json")).read_text())
    swift = result["chromosomes"] + result.get("below_threshold", [])
    swift.sort(key=lambda d: -d["score"])
    model = load_exported(a.model)
    image = np.asarray(Image.open(a.image).convert("L"), dtype=np.float32)
    ref = detect(model, image)
    boxes, scores = ref["boxes"].numpy(), ref["scores"].numpy()
    print(f"PyTorch: {len(scores)} detections, count {ref['count']}; Swift: {len(swift)} detections, "
          f"count {result['count']}")
    n = min(len(swift), len(scores))
    box_diff = max((np.abs(np.array(swift[i]["box"]) - boxes[i]).max() for i in range(n)), default=0.0)
    score_diff = max((abs(swift[i]["score"] - float(scores[i])) for i in range(n)), default=0.0)
    print(f"largest box difference {box_diff:.4f} px, largest score difference {score_diff:.2e}")
    same = len(swift) == len(scores) and result["count"] == ref["count"] and box_diff < 0.05 and score_diff < 1e-3
    print("SAME" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
