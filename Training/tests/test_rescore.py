"""Context rescoring (MODEL.md step 18): features and labels on hand-checked cases, fitting, and a model folder with
a rescorer (saved, loaded, refused for other weights, applied by `detect`)."""

import json
import math

import numpy as np
import pytest
import torch

from karyotrain import config as config_mod
from karyotrain import rescore
from karyotrain.export import export_model, load_exported
from karyotrain.model import DeepACE, detect

TINY = {"backbone": {"depth": 18, "width": 8}, "fpn": {"channels": 16}, "box_head": {"representation_size": 32},
        "anchors": {"sizes": [8, 16, 24, 32]},
        "input": {"working_scale": "chromosome-width", "target_chromosome_width": 6.0}}


def one_dark_bar():
    """40x40 white, one black bar x 10-20, y 10-14: darkness 1 on the bar, 0 elsewhere."""
    grey = np.full((40, 40), 255, np.uint8)
    grey[10:14, 10:20] = 0
    return grey


def test_features_of_a_box_and_its_half_hand_checked():
    boxes = np.array([[10, 10, 20, 14], [10, 10, 15, 14]], np.float64)  # A, then its left half B
    x = rescore.features(boxes, [0.9, 0.5], [0.95, 0.8], [1.0, 1.75], 4.0, one_dark_bar())
    a, b = x
    assert a[0] == pytest.approx(math.log(9)) and a[1] == pytest.approx(math.log(19))
    assert a[2] == pytest.approx(math.log(10 / 4)) and a[3] == pytest.approx(0)
    assert list(a[4:7]) == [0, 0, 0] and a[7] == pytest.approx(math.log(1e-4 / (1 - 1e-4))) and a[8] == 0
    assert a[9] == pytest.approx(0.5)  # IoU 20 / 40 with B
    assert a[10] == pytest.approx(0.5) and a[11] == 0  # B (score 0.5) lies inside A; A is half inside B
    assert a[12] == pytest.approx(1.0)  # all 40 pixels dark
    assert a[13] == pytest.approx(1.0)  # edge band: 40 - 16 dark pixels of 40 - 16
    assert a[14] == pytest.approx(0.0)  # ring of half a width (2 px): 112 - 40 pixels, none dark
    assert a[15] == pytest.approx(math.log1p(40 / 16))
    assert b[2] == pytest.approx(math.log(5 / 4))
    assert b[4] == pytest.approx(0.5) and b[5] == pytest.approx(1.0) and b[6] == pytest.approx(0.5)
    assert b[7] == pytest.approx(math.log(9)) and b[8] == pytest.approx(0.75)
    assert list(b[9:12]) == [0, 0, 0]
    assert b[14] == pytest.approx(8 / (9 * 8 - 20))  # the ring around B (2 px) holds 8 pixels of A's other half


def test_features_do_not_depend_on_other_images_or_on_how_many_boxes_lie_elsewhere():
    boxes = np.array([[10, 10, 20, 14]], np.float64)
    alone = rescore.features(boxes, [0.9], [0.9], [0.0], 4.0, one_dark_bar())
    far = np.vstack([boxes, [[30, 30, 36, 34]]])
    with_far = rescore.features(far, [0.9, 0.4], [0.9, 0.4], [0.0, 0.0], 4.0, one_dark_bar())
    assert np.allclose(alone[0], with_far[0])


def test_labels_give_a_found_chromosome_once():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float64)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [20, 0, 29, 10], [40, 40, 50, 50]], np.float64)
    assert list(rescore.labels(boxes, truth)) == [1, 0, 1, 0]


def test_fitting_learns_what_separates_found_from_false():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, len(rescore.FEATURES)))
    y = (x[:, 13] > 0.2).astype(np.float64)  # the edge band's darkness decides, not the score
    model = rescore.fit(x, y, hidden=16, epochs=150)
    p = model.probability(x)
    assert ((p >= 0.5) == (y == 1)).mean() > 0.95


def tiny_model_folder(tmp_path):
    torch.manual_seed(0)
    model = DeepACE(config_mod.load(overrides=TINY)).eval()
    with torch.no_grad():
        model.roi_heads.cls_score.bias.copy_(torch.tensor([0.0, 0.5]))
    export_model(model, tmp_path / "m", torch.float32)
    return tmp_path / "m"


def spread():
    img = np.full((96, 128), 230, np.uint8)
    img[10:16, 10:60] = 50
    img[40:90, 30:36] = 60
    img[50:56, 70:120] = 40
    return img


def test_a_model_folder_with_a_rescorer_counts_by_its_probabilities(tmp_path):
    folder = tiny_model_folder(tmp_path)
    plain = detect(load_exported(folder), spread())
    assert plain["boxes"].shape[0] > 0
    r = rescore.fit(np.random.default_rng(1).normal(size=(64, 16)), np.tile([0.0, 1.0], 32), hidden=8, epochs=2)
    rescore.save(r, folder, {})
    model = load_exported(folder)
    assert model.rescorer is not None
    trace = {}
    out = detect(model, spread(), trace=trace)
    expected = r.probability(trace["rescore_features"])
    assert np.allclose(np.sort(out["scores"].numpy())[::-1], np.sort(expected)[::-1])
    assert np.all(np.diff(out["scores"].numpy()) <= 0)
    assert out["count"] == int((expected >= model.cfg["postprocess"]["count_threshold"]).sum())
    # the same detections, reordered: post-processing's scores travel with their boxes
    assert torch.equal(torch.sort(out["postprocess_scores"]).values, torch.sort(plain["scores"]).values)
    assert detect(model, spread(), rescore=False)["count"] == plain["count"]


def test_a_rescorer_fitted_on_other_weights_is_refused(tmp_path):
    folder = tiny_model_folder(tmp_path)
    r = rescore.fit(np.zeros((8, 16)), np.array([0.0, 1.0] * 4), hidden=4, epochs=1)
    rescore.save(r, folder, {})
    cfg = json.loads((folder / "config.json").read_text())
    cfg["rescore"]["model_sha256"] = "0" * 64
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="other weights"):
        load_exported(folder)
    assert load_exported(folder, rescore=False).rescorer is None
