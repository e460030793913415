"""Behaviour of the synthetic spread generator (karyotrain.synth)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from karyotrain.frame import field_of_view
from karyotrain.synth import HELD_OUT_SEEDS, TRAIN_SEEDS, SpreadConfig, generate_spread, overlap_flags

SMALL = SpreadConfig(width=800, height=600)


def test_the_same_seed_gives_the_same_pixels_boxes_and_metadata():
    a = generate_spread(1234)
    b = generate_spread(1234)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.boxes.tobytes() == b.boxes.tobytes()
    assert json.dumps(a.meta, sort_keys=True) == json.dumps(b.meta, sort_keys=True)
    c = generate_spread(1235)
    assert c.image.tobytes() != a.image.tobytes()


def test_an_image_is_a_grey_1600x1200_export_with_dark_chromosomes_on_light_background():
    s = generate_spread(7)
    assert s.image.dtype == np.uint8 and s.image.shape == (1200, 1600)
    assert s.boxes.dtype == np.float32 and s.boxes.shape == (s.meta["count"], 4)
    background = np.median(s.image)
    inside = np.concatenate([s.image[y0:y0 + m.shape[0], x0:x0 + m.shape[1]][m] for x0, y0, m in s.masks])
    assert background > 180
    assert np.median(inside) < background - 40


@pytest.mark.parametrize("seed", [3, 11, 2_000_000 + 5, HELD_OUT_SEEDS.start])
def test_every_box_is_the_tight_extent_of_its_chromosome_mask_inside_the_image(seed):
    s = generate_spread(seed)
    H, W = s.image.shape
    assert len(s.masks) == len(s.boxes)
    for (x0, y0, m), box in zip(s.masks, s.boxes):
        assert m.any(), "empty mask"
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        tight = (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)
        assert tuple(box.tolist()) == tuple(float(v) for v in tight)
        assert 0 <= box[0] < box[2] <= W and 0 <= box[1] < box[3] <= H


@pytest.mark.parametrize("count", [45, 46, 47, 69, 92, 1])
def test_a_requested_chromosome_count_is_honoured(count):
    s = generate_spread(100 + count, SpreadConfig(count=count, render_image=False))
    assert len(s.boxes) == count == s.meta["count"] == len(s.meta["chromosomes"])


def test_the_default_count_is_46_mostly_with_occasional_45_and_47():
    counts = [generate_spread(seed, SpreadConfig(width=400, height=300, render_image=False)).meta["count"]
              for seed in range(40)]
    assert set(counts) <= {45, 46, 47}
    assert counts.count(46) >= 30


def test_the_eq14_overlap_share_over_200_spreads_is_within_5_points_of_its_target():
    flags = []
    for seed in range(200):
        s = generate_spread(seed, SpreadConfig(width=800, height=600, render_image=False))
        assert s.meta["overlap"] == overlap_flags(s.boxes).tolist()
        flags += s.meta["overlap"]
    share = float(np.mean(flags))
    assert abs(share - SMALL.overlap_target) <= 0.05, share


def test_the_mask_only_fast_path_gives_the_same_boxes_as_full_rendering():
    for seed in (8, 9):
        full = generate_spread(seed, SMALL)
        fast = generate_spread(seed, SpreadConfig(width=800, height=600, render_image=False))
        assert full.boxes.tobytes() == fast.boxes.tobytes()
        assert full.meta["overlap"] == fast.meta["overlap"]


def test_eq14_counts_a_box_covered_at_least_half_by_the_others():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110], [0, 0, 4, 10]], np.float32)
    # box 0: 0.5 from box 1 + 0.4 from box 3; box 1: 0.5; box 3: fully inside box 0; box 2 alone
    assert overlap_flags(boxes).tolist() == [True, True, False, True]


def test_distractors_are_never_labelled():
    for seed in range(40, 48):
        with_d = generate_spread(seed)
        without = generate_spread(seed, SpreadConfig(distractors=False))
        assert with_d.boxes.tobytes() == without.boxes.tobytes()
        assert with_d.meta["chromosomes"] == without.meta["chromosomes"]
        frame = with_d.meta["frame"]
        if frame is not None:  # everything labelled lies inside the frame line; stray objects outside do not count
            x0, y0, x1, y1 = frame
            assert (with_d.boxes[:, 0] > x0).all() and (with_d.boxes[:, 2] <= x1).all()
            assert (with_d.boxes[:, 1] > y0).all() and (with_d.boxes[:, 3] <= y1).all()
    total = [generate_spread(seed).meta["distractors"] for seed in range(40, 48)]
    assert sum(d["nuclei"] for d in total) > 0 and sum(d["debris"] for d in total) > 0


def test_a_neighbouring_cells_chromosomes_are_cut_by_the_frame_line_and_never_labelled():
    cut = 0
    for seed in range(40, 66):
        spread = generate_spread(seed)
        n = spread.meta["distractors"]["cut_chromosomes"]
        if spread.meta["frame"] is None:
            assert n == 0
            continue
        assert field_of_view(spread.image) == tuple(np.add(spread.meta["frame"], (2, 2, -1, -1)))
        if n == 0:
            continue
        cut += n
        without = generate_spread(seed, SpreadConfig(frame_cut_mean=0))
        assert spread.boxes.tobytes() == without.boxes.tobytes()
        darker = (without.image.astype(int) - spread.image.astype(int)) > 40
        x0, y0, x1, y1 = spread.meta["frame"]
        ring = darker[y0 + 1:y1, x0 + 1:x1].copy()
        ring[3:-3, 3:-3] = False  # keep the 3 px just inside the frame line
        assert ring.any(), f"seed {seed}: no added chromosome reaches the frame line"
    assert cut >= 5


def test_seed_ranges_for_training_and_held_out_sets_are_disjoint():
    assert TRAIN_SEEDS.stop <= HELD_OUT_SEEDS.start
    with pytest.raises(ValueError):
        generate_spread(-1)


def test_the_cli_writes_pngs_a_coco_file_labelme_files_and_a_summary(tmp_path):
    out = tmp_path / "set"
    result = subprocess.run(
        [sys.executable, "-m", "karyotrain", "synth", "--count", "2", "--seed", "5", "--out", str(out),
         "--width", "800", "--height", "600", "--chromosomes", "47"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "overlap" in result.stdout
    coco = json.loads((out / "annotations.coco.json").read_text())
    assert len(coco["images"]) == 2 and len(coco["annotations"]) == 94
    first = generate_spread(5, SpreadConfig(width=800, height=600, count=47))
    got = [a["bbox"] for a in coco["annotations"] if a["image_id"] == 1]
    want = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in first.boxes.tolist()]
    assert got == want
    for image in coco["images"]:
        assert (out / image["file_name"]).exists()
        labelme = json.loads((out / image["file_name"]).with_suffix(".json").read_text())
        assert len(labelme["shapes"]) == 47
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objects"] == 94 and "share" in summary["overlap"]
