"""Real annotated spreads (Pascal VOC): reading, augmentation that keeps boxes on their chromosomes, mixing, and the
counting report of `evaluate --voc`."""

import numpy as np
from PIL import Image

from karyotrain import config
from karyotrain.data import MixedSpreads, VOCSpreads, load_voc_sample, photometric, read_voc, rotate90
from karyotrain.evaluate import chosen_count_threshold, count_report, voc_threshold_row


def write_voc(root, ident, image, boxes):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).convert("RGB").save(root / "images" / f"{ident}.jpg", quality=95)
    objects = "".join(
        f"<object><name>A1</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
        f"</bndbox></object>" for x1, y1, x2, y2 in boxes)
    h, w = image.shape
    (root / "annotations" / f"{ident}.xml").write_text(
        f"<annotation><filename>{ident}.jpg</filename><size><width>{w}</width><height>{h}</height><depth>3</depth>"
        f"</size>{objects}</annotation>")


def bars_image(h=200, w=300):
    """Dark bars on a light background, one per box (inclusive VOC coordinates)."""
    image = np.full((h, w), 240, np.uint8)
    boxes = [(20, 30, 29, 89), (100, 40, 159, 51), (200, 120, 211, 179)]
    for x1, y1, x2, y2 in boxes:
        image[y1:y2 + 1, x1:x2 + 1] = 60
    return image, boxes


def test_voc_inclusive_pixels_become_exclusive_boxes(tmp_path):
    image, boxes = bars_image()
    write_voc(tmp_path, "1", image, boxes)
    b, names = read_voc(tmp_path / "annotations" / "1.xml")
    assert names == ["A1"] * 3
    assert b.tolist() == [[20, 30, 30, 90], [100, 40, 160, 52], [200, 120, 212, 180]]


def test_reviewed_cells_exported_by_the_review_station_load(tmp_path):
    """`karyocount review export-labels` writes images/ID.png (grey) and one `chromosome` object per box."""
    image, boxes = bars_image()
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    Image.fromarray(image).save(tmp_path / "images" / "P1__P1.001.A.png")
    objects = "".join(
        f" <object>\n  <name>chromosome</name>\n  <bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
        f"<ymax>{y2}</ymax></bndbox>\n </object>\n" for x1, y1, x2, y2 in boxes)
    (tmp_path / "annotations" / "P1__P1.001.A.xml").write_text(
        "<annotation>\n <filename>P1__P1.001.A.png</filename>\n <size><width>300</width><height>200</height>"
        f"<depth>1</depth></size>\n{objects}</annotation>\n")
    grey, b, names = load_voc_sample(tmp_path, "P1__P1.001.A")
    assert grey.shape == (200, 300) and (grey == image).all()
    assert names == ["chromosome"] * 3
    assert b.tolist() == [[20, 30, 30, 90], [100, 40, 160, 52], [200, 120, 212, 180]]


def test_quarter_turns_keep_each_box_on_its_bar():
    image, boxes = bars_image()
    b = np.asarray([[x1, y1, x2 + 1, y2 + 1] for x1, y1, x2, y2 in boxes], np.float32)
    for k in range(4):
        turned, tb = rotate90(image, b, k)
        assert turned.shape == (image.shape if k % 2 == 0 else image.shape[::-1])
        for x1, y1, x2, y2 in tb.astype(int):
            inside = turned[y1:y2, x1:x2]
            assert inside.size > 0 and (inside == 60).all()
            ring = turned[max(y1 - 1, 0):y2 + 1, max(x1 - 1, 0):x2 + 1]
            assert (ring == 60).sum() == inside.size  # the bar ends at the box edge


def test_photometric_changes_keep_the_image_grey_uint8_and_same_size():
    image, _ = bars_image()
    for seed in range(12):
        out = photometric(image, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8
        assert out[60, 25] < out[5, 5]  # a chromosome stays darker than the background


def small_cfg(tmp_path, fraction):
    cfg = config.merge(config.load(), {"data": {"width": 400, "height": 300, "real": {
        "voc": str(tmp_path), "list": "train.txt", "fraction": fraction}}})
    cfg["input"]["target_chromosome_width"] = 8.944
    return cfg


def test_every_training_id_is_drawn_once_per_pass(tmp_path):
    image, boxes = bars_image()
    for i in range(5):
        write_voc(tmp_path, str(i), image, boxes)
    (tmp_path / "train.txt").write_text("0\n1\n2\n3\n4\n")
    ds = VOCSpreads(small_cfg(tmp_path, 1.0), tmp_path, "train.txt", seed=3)
    assert sorted(ds.ident(i) for i in range(5)) == ["0", "1", "2", "3", "4"]
    assert sorted(ds.ident(i) for i in range(5, 10)) == ["0", "1", "2", "3", "4"]


def test_mixed_stream_follows_the_configured_real_fraction(tmp_path):
    image, boxes = bars_image()
    write_voc(tmp_path, "0", image, boxes)
    (tmp_path / "train.txt").write_text("0\n")
    ds = MixedSpreads(small_cfg(tmp_path, 0.75), first_seed=100)
    real = sum(np.random.default_rng(100 + i).random() < 0.75 for i in range(400))
    assert 260 <= real <= 340
    img, b = ds[next(i for i in range(50) if np.random.default_rng(100 + i).random() < 0.75)]
    assert len(b) == 3 and img.ndim == 2


def test_count_report_keeps_cells_that_are_not_46_apart():
    def item(count, truth):
        return np.zeros((count, 4)), np.full(count, 0.9), np.zeros((truth, 4))
    low = (np.zeros((1, 4)), np.array([0.2]), np.zeros((0, 4)))  # below the threshold: not counted
    r = count_report([item(46, 46), item(45, 46), item(47, 47), item(46, 45), low], 0.5)
    assert r["images"] == 5
    assert r["exact"] == 60.0
    assert r["mean_abs_error"] == 0.4
    assert r["mean_error"] == 0.0  # one under, one over
    assert r["error_histogram"] == {"-1": 1, "+0": 3, "+1": 1}
    assert r["not_46"]["images"] == 3 and r["not_46"]["error_histogram"] == {"+0": 2, "+1": 1}
    assert abs(r["not_46"]["mean_error"] - 1 / 3) < 1e-12
    assert r["per_truth"]["45"]["error_histogram"] == {"+1": 1}


def test_the_count_threshold_is_the_one_of_lowest_mean_abs_error():
    def cell(scores, truth):
        return np.zeros((len(scores), 4)), np.asarray(scores, float), np.zeros((truth, 4))
    # cell 1: 3 chromosomes scoring 0.9, 0.5, 0.35; cell 2: 2 scoring 0.9, 0.45 and a speck at 0.32
    cells = [cell([0.9, 0.5, 0.35], 3), cell([0.9, 0.45, 0.32], 2)]
    rows = {f"{t:g}": voc_threshold_row(cells, t) for t in (0.3, 0.34, 0.4, 0.5)}
    # counts (cell 1, cell 2) and errors: 0.3 -> (3, 3) +0 +1; 0.34 -> (3, 2) exact; 0.4 -> (2, 2) -1 +0; 0.5 -> (2, 1)
    assert [rows[k]["mean_abs_error"] for k in ("0.3", "0.34", "0.4", "0.5")] == [0.5, 0.0, 0.5, 1.0]
    assert chosen_count_threshold(rows) == "0.34"
    tie = {"0.3": {"mean_abs_error": 1.0, "exact": 20.0}, "0.35": {"mean_abs_error": 1.0, "exact": 25.0},
           "0.4": {"mean_abs_error": 1.0, "exact": 25.0}, "0.45": {"mean_abs_error": 1.5, "exact": 40.0}}
    assert chosen_count_threshold(tie) == "0.35"  # exact rate breaks the tie, then the lower threshold


def test_the_shipped_splits_partition_train_txt_and_never_touch_val():
    import pytest

    from karyotrain.data import REPO, voc_ids
    root = REPO.parent / "shared" / "data" / "tseng"
    if not (root / "train.txt").exists():
        pytest.skip("the tseng spreads are not on this machine")
    fit = voc_ids(root, "Training/splits/tseng-fit.txt")
    held = voc_ids(root, "Training/splits/tseng-calibration.txt")
    assert len(fit) == 1170 and len(held) == 130 and not set(fit) & set(held)
    assert set(fit) | set(held) == set(voc_ids(root, "train.txt"))
    assert not (set(fit) | set(held)) & set(voc_ids(root, "val.txt"))


def test_the_class_report_says_which_chromosomes_are_missed_and_why():
    from karyotrain.metrics import class_report, evaluate
    truth = np.array([[0, 0, 10, 100], [50, 0, 60, 30], [100, 0, 110, 30], [150, 0, 160, 30], [200, 0, 210, 100]],
                     float)
    names = ["A1", "G21", "G22", "G21", "B4"]
    boxes = np.array([[0, 0, 10, 100],  # A1 found
                      [0, 0, 10, 95],  # IoU 0.95 with the found A1: a duplicate
                      [50, 0, 60, 30],  # the first G21, scored below the threshold
                      [100, 0, 110, 12],  # IoU 0.4 with G22: a piece, and G22 missed
                      [200, 0, 210, 100],  # B4 found
                      [300, 0, 310, 30]], float)  # nothing there
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.95, 0.6])
    report = class_report([(boxes, scores, truth, names)], score_threshold=0.5)
    assert list(report["per_class"]) == ["G21", "G22", "A1", "B4"]  # by miss rate, then name
    assert report["per_class"]["G21"] == {"truth": 2, "missed": 2, "miss_rate": 100.0}
    assert report["per_class"]["A1"] == {"truth": 1, "missed": 0, "miss_rate": 0.0}
    assert report["misses"] == {"below_threshold": 1, "piece_or_merge": 1, "no_box": 1}
    assert report["false"] == {"duplicate": 1, "piece_or_merge": 1, "no_chromosome": 1}
    # The count is right (5 boxes for 5 chromosomes) while three are missed and three boxes are false.
    figures = evaluate([(boxes, scores, truth)], 0.5)
    assert (figures["TP"], figures["FP"], figures["FN"]) == (2, 3, 3)
