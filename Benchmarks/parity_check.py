"""Swift engine vs PyTorch reference on real images with one exported model: same boxes, scores and count.

    python3 Benchmarks/parity_check.py --model Models/default --image Tests/Fixtures/real/18-Y2087.145.O.png \
        ../shared/data/tseng/images/103191.jpg [--binary .build/debug/karyocount]

Runs `karyocount count --detector deepace --model MODEL` (release build) and karyotrain's `detect` on the same
file, pairs each reference detection with the nearest Swift one, and prints the largest box and score differences.
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


def compare(binary: str, model_dir: str, model, image_path: str) -> bool:
    """Runs both engines on one image, prints their counts and largest differences; whether they agree."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([binary, "count", image_path, "--out", out, "--detector", "deepace", "--model", model_dir],
                       check=True, capture_output=True)
        result = json.loads(next(Path(out).glob("*.json")).read_text())
    swift = result["chromosomes"] + result.get("below_threshold", [])
    swift.sort(key=lambda d: -d["score"])
    image = np.asarray(Image.open(image_path).convert("L"), dtype=np.float32)
    ref = detect(model, image)
    boxes, scores = ref["boxes"].numpy(), ref["scores"].numpy()
    # Each PyTorch detection against the Swift one nearest to it: two detections whose scores differ by less than
    # float rounding may come out in either order.
    swift_boxes = np.array([d["box"] for d in swift]).reshape(-1, 4)
    swift_scores = np.array([d["score"] for d in swift])
    box_diff = score_diff = 0.0
    for box, score in zip(boxes, scores) if len(swift) else ():
        nearest = int(np.argmin(np.abs(swift_boxes - box).max(axis=1)))
        box_diff = max(box_diff, float(np.abs(swift_boxes[nearest] - box).max()))
        score_diff = max(score_diff, abs(float(swift_scores[nearest]) - float(score)))
    same = len(swift) == len(scores) and result["count"] == ref["count"] and box_diff < 0.05 and score_diff < 1e-3
    print(f"{Path(image_path).name}: PyTorch {len(scores)} detections, count {ref['count']}; Swift {len(swift)} "
          f"detections, count {result['count']}; largest box difference {box_diff:.4f} px, score difference "
          f"{score_diff:.2e}: {'SAME' if same else 'DIFFERENT'}", flush=True)
    return same


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True, nargs="+")
    ap.add_argument("--binary", default=str(ROOT / ".build/release/karyocount"))
    a = ap.parse_args()
    model = load_exported(a.model)
    same = [compare(a.binary, a.model, model, path) for path in a.image]
    print(f"{sum(same)} of {len(same)} images the same")
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())
