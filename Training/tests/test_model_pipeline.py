"""Export round trip, the committed golden files against the current model code, a 2-step training smoke test,
and the metric rules on a hand-made case."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from karyotrain import config as config_mod
from karyotrain.export import export_model, load_exported
from karyotrain.metrics import evaluate
from karyotrain.model import DeepACE, detect

GOLDEN = Path(__file__).resolve().parents[2] / "Tests" / "KaryoNetTests" / "Golden"
TINY = {"backbone": {"depth": 18, "width": 8}, "fpn": {"channels": 16}, "box_head": {"representation_size": 32},
        "anchors": {"sizes": [8, 16, 24, 32]}, "input": {"working_scale": "fixed", "scale": 1.0}}


def spread_like_image():
    img = np.full((96, 128), 230, np.uint8)
    img[10:18, 10:60] = 50
    img[40:90, 30:38] = 60
    img[50:58, 70:120] = 40
    return img


def test_export_round_trip_gives_the_same_detections(tmp_path):
    torch.manual_seed(0)
    model = DeepACE(config_mod.load(overrides=TINY)).eval()
    with torch.no_grad():
        model.roi_heads.cls_score.bias.copy_(torch.tensor([0.0, 0.5]))
    img = spread_like_image()
    ref = detect(model, img)
    export_model(model, tmp_path / "m", torch.float32)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["format"] == "karyocount.model/1" and len(cfg["anchors"]["base"]) == 36
    names = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert "backbone.bn1.running_var" in names and "roi_heads.template.masks" in names
    assert not any(k.endswith("num_batches_tracked") for k in names)
    again = detect(load_exported(tmp_path / "m"), img)
    assert ref["boxes"].shape[0] > 0
    assert torch.equal(ref["boxes"], again["boxes"]) and torch.equal(ref["scores"], again["scores"])
    export_model(model, tmp_path / "h", torch.float16)
    half = load_exported(tmp_path / "h")
    assert half.backbone.conv1.weight.dtype == torch.float32


def test_a_model_with_a_missing_tensor_is_refused(tmp_path):
    model = DeepACE(config_mod.load(overrides=TINY))
    export_model(model, tmp_path / "m")
    t = load_file(str(tmp_path / "m" / "model.safetensors"))
    del t["rpn.conv.weight"]
    from safetensors.torch import save_file
    save_file(t, str(tmp_path / "m" / "model.safetensors"))
    with pytest.raises(ValueError, match="rpn.conv.weight"):
        load_exported(tmp_path / "m")


@pytest.mark.skipif(not (GOLDEN / "stages.safetensors").exists(), reason="golden files not generated")
def test_the_committed_golden_files_match_the_current_model_code():
    model = load_exported(GOLDEN / "model")
    st = load_file(str(GOLDEN / "stages.safetensors"))
    trace = {}
    r = detect(model, st["image"].numpy(), trace)
    for k in ("input", "c3", "p3", "rpn_logits", "proposals", "box_scores", "embeddings", "det_boxes"):
        torch.testing.assert_close(trace[k].float(), st[k], rtol=1e-4, atol=1e-4)
    assert trace["det_index"].tolist() == st["det_index"].tolist()
    assert r["count"] == int(st["count"][0]) and 3 < r["count"] and r["scores"].numel() < 100
    assert r["factor"] == pytest.approx(float(st["factor"][0]), rel=1e-12)


def test_two_training_steps_write_a_resumable_checkpoint(tmp_path):
    pytest.importorskip("karyotrain.synth")
    from karyotrain import train
    cfg = config_mod.merge(TINY, {
        "rpn": {"pre_nms_top_n_train": 300, "post_nms_top_n_train": 100}, "box_head": {"batch_size": 32},
        "input": {"mean": 220.0, "std": 40.0, "working_scale": "fixed"},
        "data": {"width": 160, "height": 120, "batch_size": 1, "workers": 0}})
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    out = tmp_path / "run"
    args = ["--config", str(tmp_path / "c.json"), "--budget-seconds", "120", "--out", str(out), "--log-every", "1"]
    assert train.main(args + ["--max-steps", "2"]) == 0
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["step"] == 2
    assert "rpn_cls" in (out / "train.log").read_text() and "pull" in (out / "train.log").read_text()
    assert train.main(args + ["--max-steps", "3"]) == 0
    trained = torch.load(out / "last.pt", weights_only=False)
    assert trained["step"] == 3

    # --budget-seconds is the run's time in all: a resumed run whose budget is spent trains no further step.
    spent = tmp_path / "spent"
    spent.mkdir()
    torch.save({**trained, "elapsed": 120.0}, spent / "last.pt")
    assert train.main(["--config", str(tmp_path / "c.json"), "--budget-seconds", "120", "--out", str(spent)]) == 0
    assert torch.load(spent / "last.pt", weights_only=False)["step"] == 3

    # A new run from those weights keeps the architecture and input statistics, takes the new data and optim
    # sections and an intensity range, starts at step 0 with the trained weights, and draws spreads the weights
    # have not seen.
    intensity_range = {"background": [220.0, 255.0], "contrast": [80.0, 150.0]}
    other = config_mod.merge(cfg, {"name": "ft", "backbone": {"depth": 34},
                                   "input": {"mean": 1.0, "intensity_range": intensity_range},
                                   "data": {"batch_size": 2}, "optim": {"lr": 0.005}, "box_head": {"fg_iou": 0.6}})
    (tmp_path / "ft.json").write_text(json.dumps(other))
    ft = tmp_path / "ft"
    assert train.main(["--config", str(tmp_path / "ft.json"), "--init", str(out / "last.pt"), "--budget-seconds",
                       "120", "--out", str(ft), "--max-steps", "0"]) == 0
    ck = torch.load(ft / "last.pt", weights_only=False)
    assert ck["step"] == 0 and ck["images"] == 0
    assert ck["cfg"]["backbone"] == trained["cfg"]["backbone"] and ck["cfg"]["input"]["mean"] == 220.0
    assert ck["cfg"]["input"]["intensity_range"] == intensity_range
    assert ck["cfg"]["data"]["batch_size"] == 2 and ck["cfg"]["optim"]["lr"] == 0.005 and ck["cfg"]["name"] == "ft"
    assert ck["cfg"]["box_head"]["fg_iou"] == 0.6  # how the box head samples is the run's to choose
    assert ck["cfg"]["seed_offset"] == trained["images"] == 3
    for k, v in trained["model"].items():
        assert torch.equal(ck["model"][k], v), k

    # The same from the exported model folder (what ships in Models/ and comes back from a GPU run).
    from karyotrain import export
    assert export.main(["--checkpoint", str(ft / "last.pt"), "--out", str(tmp_path / "model")]) == 0
    again = tmp_path / "again"
    assert train.main(["--config", str(tmp_path / "ft.json"), "--init", str(tmp_path / "model"), "--budget-seconds",
                       "120", "--out", str(again), "--max-steps", "0"]) == 0
    ck2 = torch.load(again / "last.pt", weights_only=False)
    assert ck2["cfg"]["seed_offset"] == 3 and ck2["cfg"]["input"]["mean"] == 220.0
    for k, v in trained["model"].items():
        assert k.endswith("num_batches_tracked") or torch.equal(ck2["model"][k], v), k  # not exported


def test_metrics_count_duplicates_as_false_positives_and_misses_as_false_negatives():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]
    pred = [[0, 0, 10, 10], [0, 0, 10, 11], [20, 0, 30, 10], [100, 100, 110, 110]]
    scores = [0.9, 0.95, 0.8, 0.7]
    r = evaluate([(pred, scores, gt)])
    # box 1 (0.95) wins ground truth 0, box 0 is a duplicate (FP), box 3 matches nothing (FP), gt 2 is missed.
    assert (r["TP"], r["FP"], r["FN"]) == (2, 2, 1)
    assert r["AER"] == pytest.approx(100 * 3 / 3)
    assert r["Acc"] == pytest.approx(100 * 2 / 5)
    assert r["WCR"] == 0.0 and r["CountExact"] == 0.0
    perfect = evaluate([(gt, [0.9, 0.9, 0.9], gt)])
    assert perfect["WCR"] == 100.0 and perfect["mAP"] == pytest.approx(100.0) and perfect["MR2"] == pytest.approx(0.0,
                                                                                                                 abs=1e-6)


def test_evaluating_several_methods_on_one_network_pass_equals_separate_runs():
    from karyotrain.evaluate import detect_methods

    torch.manual_seed(0)
    model = DeepACE(config_mod.load(overrides=TINY)).eval()
    with torch.no_grad():
        model.roi_heads.cls_score.bias.copy_(torch.tensor([0.0, 0.5]))
    img = spread_like_image()
    outs, _ = detect_methods(model, img, ["eg-nms", "nms", "soft-nms"])
    assert model.cfg["postprocess"]["method"] == "eg-nms"  # restored afterwards
    for method in ("eg-nms", "nms", "soft-nms"):
        model.cfg["postprocess"]["method"] = method
        alone = detect(model, img)
        boxes, scores = outs[method]
        assert boxes.shape[0] == alone["boxes"].shape[0] > 0
        assert np.allclose(boxes, alone["boxes"].numpy(), atol=1e-4)
        assert np.array_equal(scores, alone["scores"].numpy())


def test_coco_samples_give_each_image_with_its_boxes_as_corners(tmp_path):
    from PIL import Image

    from karyotrain.evaluate import coco_samples

    Image.fromarray(spread_like_image()).save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "b.png")
    coco = {"images": [{"id": 7, "file_name": "a.png"}, {"id": 9, "file_name": "b.png"}],
            "annotations": [{"image_id": 7, "bbox": [10, 10, 50, 8]}, {"image_id": 7, "bbox": [30, 40, 8, 50]}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    (img_a, boxes_a), (img_b, boxes_b) = list(coco_samples(tmp_path / "c.json"))
    assert img_a.shape == (96, 128) and img_b.shape == (8, 8)
    assert boxes_a.tolist() == [[10, 10, 60, 18], [30, 40, 38, 90]]
    assert boxes_b.shape == (0, 4)


def test_evaluate_with_a_lab_chromosome_width_scales_every_image_by_it(tmp_path):
    from PIL import Image

    from karyotrain import evaluate as evaluate_mod
    from karyotrain.scale import estimate_chromosome_width
    torch.manual_seed(0)
    cfg = config_mod.load(overrides={**TINY, "input": {"working_scale": "chromosome-width",
                                                       "target_chromosome_width": 8.0}})
    export_model(DeepACE(cfg).eval(), tmp_path / "m", torch.float32)
    img = spread_like_image()
    Image.fromarray(img).save(tmp_path / "cell.png")
    args = ["--model", str(tmp_path / "m"), "--real", str(tmp_path / "cell.png"), "--json", str(tmp_path / "r.json")]
    assert evaluate_mod.main(args + ["--chromosome-width", "16"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["real"]["cell.png"]["factor"] == 0.5
    assert evaluate_mod.main(args) == 0
    own = json.loads((tmp_path / "r.json").read_text())["real"]["cell.png"]["factor"]
    assert own == pytest.approx(8.0 / estimate_chromosome_width(img))


def test_a_box_head_grown_from_trained_weights_gives_the_same_detections_and_learns_with_its_new_units():
    from karyotrain.losses import compute_losses
    from karyotrain.train import widen_box_head
    torch.manual_seed(3)
    cfg = config_mod.load(None, TINY)
    small = DeepACE(cfg).eval()
    wide_cfg = config_mod.merge(cfg, {"box_head": {"representation_size": 96}})
    wide = DeepACE(wide_cfg)
    wide.load_state_dict(widen_box_head(small.state_dict(), 96))
    wide.eval()
    image = spread_like_image()
    a, b = detect(small, image), detect(wide, image)
    assert a["count"] == b["count"] and len(a["scores"]) > 0
    assert torch.allclose(a["boxes"], b["boxes"], atol=1e-4) and torch.allclose(a["scores"], b["scores"], atol=1e-6)

    # Every new unit receives gradient on the first step: none is a dead copy.
    wide.train()
    x = torch.from_numpy((image.astype(np.float32) - 220.0) / 40.0)[None, None]
    gt = torch.tensor([[10.0, 10.0, 60.0, 18.0], [30.0, 40.0, 38.0, 90.0], [70.0, 50.0, 120.0, 58.0]])
    compute_losses(wide, x, [image.shape], [gt])["total"].backward()
    assert float(wide.roi_heads.cls_score.weight.grad[:, 32:].abs().sum()) > 0
    assert float(wide.roi_heads.fc7.weight.grad[:32, 32:].abs().sum()) > 0
