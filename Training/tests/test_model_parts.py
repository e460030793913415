"""HNAS, template masks, pull/push/TNRL, NMS variants, RoIAlign and the working scale on hand-made cases."""

import math

import numpy as np
import pytest
import torch

from karyotrain.anchors import base_anchors, grid_anchors
from karyotrain.boxes import box_iou, decode, encode
from karyotrain.losses import pull_loss, push_loss, tnrl, truncated_iog
from karyotrain.nms import embedding_guided_nms, nms, soft_nms
from karyotrain.roi_align import roi_align, roi_align_grid_sample
from karyotrain.sampling import anchor_categories, anchor_categories_on_grid, sample_anchors
from karyotrain.scale import estimate_chromosome_width, otsu_threshold
from karyotrain.template import template_masks


def test_hnas_v2_takes_128_positive_192_hard_192_easy_from_the_right_iou_bands():
    anchors = grid_anchors(base_anchors([16, 32, 48, 64]), 40, 40, 8)
    g = torch.Generator().manual_seed(1)
    big = torch.where((anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1]) >= 40 * 40)[0]
    sel = big[torch.randperm(big.numel(), generator=g)[:60]]
    gt = anchors[sel] + torch.rand(60, 4, generator=g) * 2  # 60 chromosomes, each close to some anchor
    _, pos, hard, easy = anchor_categories(anchors, gt, "hnas-v2")
    p, n = sample_anchors(pos, hard, easy, "hnas-v2", 512, 0.25, g)
    iou = box_iou(gt, anchors).max(dim=0).values
    assert int(pos.sum()) >= 128 and p.numel() == 128
    assert n.numel() == 384
    n_hard = int(((iou[n] >= 0.1) & (iou[n] < 0.5)).sum())
    n_easy = int((iou[n] < 0.1).sum())
    assert (n_hard, n_easy) == (192, 192)
    assert bool((iou[p] >= 0.7).all() or pos[p].all())
    assert not bool(((iou >= 0.5) & (iou < 0.7) & (hard | easy)).any()), "[0.5, 0.7) is ignored in v2"


def test_hnas_v1_uses_the_03_07_band_and_fills_a_short_hard_stratum_with_easy_negatives():
    anchors = grid_anchors(base_anchors([16, 32, 48, 64]), 40, 40, 8)
    gt = torch.tensor([[40.0, 40, 60, 120]])
    _, pos, hard, easy = anchor_categories(anchors, gt, "hnas-v1")
    iou = box_iou(gt, anchors)[0]
    assert bool(((iou[hard] >= 0.3) & (iou[hard] < 0.7)).all()) and bool((iou[easy] < 0.3).all())
    p, n = sample_anchors(pos, hard, easy, "hnas-v1", 512, 0.25)
    assert p.numel() == int(pos.sum()) < 128
    assert n.numel() == 512 - p.numel()
    assert int(hard[n].sum()) == min(int(hard.sum()), (512 - p.numel()) // 2)


def test_windowed_anchor_matching_equals_the_dense_matching_used_as_reference():
    base = base_anchors([16, 32, 48, 64])
    anchors = grid_anchors(base, 30, 40, 8)
    g = torch.Generator().manual_seed(3)
    for trial in range(12):
        n = int(torch.randint(1, 40, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * torch.tensor([340.0, 260.0]) - 10  # some boxes cross the border
        gt = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 60 + 2], 1)
        if trial % 3 == 0:
            gt = torch.round(gt / 8) * 8  # ties between ground truths and anchors
        for sampler in ("hnas-v2", "hnas-v1", "standard"):
            dense = anchor_categories(anchors, gt, sampler)
            windowed = anchor_categories_on_grid(base, 30, 40, 8, gt, sampler)
            for a, b in zip(dense, windowed):
                assert torch.equal(a, b), (trial, sampler)


def test_the_training_roi_align_equals_the_reference_for_boxes_inside_the_image():
    g = torch.Generator().manual_seed(5)
    features = torch.randn(2, 16, 19, 25, generator=g)
    xy = torch.rand(60, 2, generator=g) * torch.tensor([180.0, 130.0])
    boxes = torch.cat([xy, torch.minimum(xy + torch.rand(60, 2, generator=g) * 40 + 0.5,
                                         torch.tensor([200.0, 152.0]))], 1)
    boxes[:3] = torch.tensor([[0.0, 0.0, 12.0, 9.0], [190.0, 140.0, 200.0, 152.0], [0.0, 70.0, 3.0, 90.0]])
    batch_index = torch.randint(0, 2, (60,), generator=g)
    ref = roi_align(features, boxes, batch_index)
    fast = roi_align_grid_sample(features, boxes, batch_index)
    assert fast.shape == ref.shape == (60, 16, 7, 7)
    assert torch.allclose(fast, ref, atol=1e-5, rtol=1e-5)


def test_the_five_template_masks_follow_equation_1():
    m = template_masks().double()
    for r in range(7):
        for c in range(7):
            x, y = r - 3, c - 3
            assert m[0, r, c] == pytest.approx(math.exp(-(x - y) ** 2 / 3), rel=1e-6)
            assert m[1, r, c] == pytest.approx(math.exp(-(x + y) ** 2 / 3), rel=1e-6)
            assert m[2, r, c] == pytest.approx(math.exp(-y ** 2 / 3), rel=1e-6)
            assert m[3, r, c] == pytest.approx(math.exp(-x ** 2 / 3), rel=1e-6)
            assert m[4, r, c] == pytest.approx(math.exp(-abs(x * x + y * y - 5) / 3), rel=1e-6)
    assert float(m[0].diagonal().min()) == 1.0 and float(m[1].flip(1).diagonal().min()) == 1.0
    assert m[4, 1, 2] == 1.0  # x = -2, y = -1: on the ring x^2 + y^2 = 5


def test_focal_pull_loss_on_two_embeddings_of_one_chromosome():
    # mean 2, ê = 1 for both: (0.5 + 1)^2 * 1^2 = 2.25 each; N = 2.
    s, n = pull_loss(torch.tensor([1.0, 3.0]), torch.tensor([0, 0]), 0.5, 2.0)
    assert float(s) / n == pytest.approx(2.25)
    s, n = pull_loss(torch.tensor([1.0, 1.0, 5.0]), torch.tensor([0, 0, 1]))
    assert float(s) == 0.0 and n == 3


def test_push_loss_pushes_overlapping_pairs_and_ignores_isolated_chromosomes():
    gt = torch.tensor([[0.0, 0, 10, 40], [5, 0, 15, 40], [100, 100, 110, 140]])
    emb = torch.tensor([0.0, 0.0, 0.4, 0.4, 5.0])
    grp = torch.tensor([0, 0, 1, 1, 2])
    s, n = push_loss(emb, grp, gt, 1.0)
    assert n == 2 and float(s) / n == pytest.approx(0.6)
    s, n = push_loss(torch.tensor([0.0, 2.0]), torch.tensor([0, 1]), gt[:2], 1.0)
    assert float(s) == 0.0


def test_tnrl_is_zero_when_the_target_contains_the_repulsion_box_and_one_on_the_repulsion_box():
    g = torch.tensor([[0.0, 0, 100, 100]])
    r_inside = torch.tensor([[20.0, 20, 40, 40]])
    pred = torch.tensor([[10.0, 10, 60, 60]])
    assert float(truncated_iog(pred, g, r_inside)[0]) == 0.0
    assert float(tnrl(pred, g, r_inside, 1)) == 0.0
    r = torch.tensor([[50.0, 0, 150, 100]])
    assert float(tnrl(r.clone(), g, r, 1)) == pytest.approx(1.0)
    assert float(tnrl(g.clone(), g, r, 1)) == pytest.approx(0.0)
    half = torch.tensor([[25.0, 0, 125, 100]])  # halfway: (75 - 50) / (100 - 50) of R's area
    assert float(truncated_iog(half, g, r)[0]) == pytest.approx(0.5)


def naive_algorithm_1(boxes, scores, emb, delta=0.3, sigma=0.5):
    """Algorithm 1 written out with Python lists (stable sort each round, as in the paper)."""
    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
    B = list(range(len(boxes)))
    S = {i: float(scores[i]) for i in B}
    D, Sp = [], []
    while B:
        B.sort(key=lambda i: (-S[i], i))
        m = B.pop(0)
        D.append(m)
        Sp.append(S[m])
        for i in B:
            d = abs(float(emb[m]) - float(emb[i]))
            sd = 1 / (1 + math.exp(-2 * (d - delta)))
            S[i] = S[i] * math.exp(-iou(boxes[m], boxes[i]) ** (1.5 + sd) / sigma)
    return D, Sp


def test_embedding_guided_nms_follows_algorithm_1():
    boxes = [[10, 10, 50, 30], [12, 11, 52, 31], [40, 5, 60, 60], [41, 6, 61, 58], [100, 100, 120, 160],
             [100, 130, 120, 190], [0, 0, 8, 8], [11, 10, 49, 29]]
    scores = [0.95, 0.90, 0.85, 0.80, 0.75, 0.70, 0.30, 0.60]
    emb = [0.0, 0.05, 1.0, 2.2, -1.0, -1.1, 3.0, 0.9]
    idx, s = embedding_guided_nms(torch.tensor(boxes, dtype=torch.float64), torch.tensor(scores, dtype=torch.float64),
                                  torch.tensor(emb, dtype=torch.float64))
    d, sp = naive_algorithm_1(boxes, scores, emb)
    assert idx.tolist() == d
    assert s.tolist() == pytest.approx(sp, rel=1e-12)
    # Hand check of one decay: box 1 after box 0 (IoU 0.84507, d = 0.05 -> S = 0.37754, exponent 1.87754).
    iou01 = float(box_iou(torch.tensor([boxes[0]], dtype=torch.float64), torch.tensor([boxes[1]],
                                                                                      dtype=torch.float64)))
    expect = 0.90 * math.exp(-iou01 ** (1.5 + 1 / (1 + math.exp(-2 * (0.05 - 0.3)))) / 0.5)
    assert s[idx.tolist().index(1)] < expect + 1e-12  # later decays only lower it
    # Far-apart embeddings decay less than near ones at the same IoU (box 7 vs box 1 around box 0).
    i1, i7 = idx.tolist().index(1), idx.tolist().index(7)
    assert float(s[i7]) / 0.60 > 0 and float(s[i1]) / 0.90 < 1


def test_nms_and_soft_nms_on_a_hand_made_case():
    b = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10.5]])
    s = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert nms(b, s, 0.5).tolist() == [3, 2]
    assert nms(b, s, 0.5, max_keep=1).tolist() == [3]
    idx, sc = soft_nms(b, s, 0.5)
    assert idx.tolist()[0] == 3 and float(sc[0]) == pytest.approx(0.95)
    assert idx.tolist()[1] == 2 and float(sc[1]) == pytest.approx(0.7)  # no overlap: undecayed
    iou31 = 90 / 115  # box 1 is decayed by box 3 only; it is picked before box 0
    assert idx.tolist()[2] == 1 and float(sc[2]) == pytest.approx(0.8 * math.exp(-iou31 ** 2 / 0.5), rel=1e-5)


def test_roi_align_matches_a_hand_computed_bilinear_case():
    f = torch.tensor([[10.0 * y + x for x in range(6)] for y in range(5)])[None, None]
    # aligned=True, scale 1, box (1,1)-(3,3), 2x2 bins, 2 samples: x samples 0.75, 1.25 | 1.75, 2.25.
    out = roi_align(f, torch.tensor([[1.0, 1, 3, 3]]), torch.tensor([0]), 2, 1.0, 2)
    assert out[0, 0].reshape(-1).tolist() == pytest.approx([11.0, 12.0, 21.0, 22.0])
    # Near the border: samples at y < 0 are clamped to row 0; y beyond H contributes 0.
    out = roi_align(f, torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0]), 1, 1.0, 2)
    # samples at (-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25) -> clamped to >= 0
    assert float(out[0, 0, 0, 0]) == pytest.approx((0 + 0.25 + 2.5 + 2.75) / 4)
    out = roi_align(f, torch.tensor([[0.0, 8, 2, 16]]), torch.tensor([0]), 1, 1.0, 2)
    assert float(out[0, 0, 0, 0]) == 0.0


def naive_roi_align(f, box, out, scale, g):
    """torchvision's C++ loop, transcribed."""
    c, h, w = f.shape
    x0, y0 = box[0] * scale - 0.5, box[1] * scale - 0.5
    bw, bh = (box[2] - box[0]) * scale / out, (box[3] - box[1]) * scale / out
    res = np.zeros((c, out, out))
    for ph in range(out):
        for pw in range(out):
            acc = np.zeros(c)
            for iy in range(g):
                y = y0 + ph * bh + (iy + 0.5) * bh / g
                for ix in range(g):
                    x = x0 + pw * bw + (ix + 0.5) * bw / g
                    if y < -1 or y > h or x < -1 or x > w:
                        continue
                    yy, xx = max(y, 0.0), max(x, 0.0)
                    yl, xl = int(yy), int(xx)
                    if yl >= h - 1:
                        yl = yh = h - 1
                        yy = float(yl)
                    else:
                        yh = yl + 1
                    if xl >= w - 1:
                        xl = xh = w - 1
                        xx = float(xl)
                    else:
                        xh = xl + 1
                    ly, lx = yy - yl, xx - xl
                    hy, hx = 1 - ly, 1 - lx
                    acc += hy * hx * f[:, yl, xl] + hy * lx * f[:, yl, xh] + ly * hx * f[:, yh, xl] + ly * lx * f[:, yh, xh]
            res[:, ph, pw] = acc / (g * g)
    return res


def test_roi_align_matches_torchvisions_loop_on_random_boxes():
    g = torch.Generator().manual_seed(3)
    f = torch.randn(2, 3, 9, 11, generator=g, dtype=torch.float64)
    xy = torch.rand(12, 2, generator=g, dtype=torch.float64) * 90 - 5
    wh = torch.rand(12, 2, generator=g, dtype=torch.float64) * 40 + 0.5
    boxes = torch.cat([xy, xy + wh], 1)
    bi = torch.arange(12) % 2
    out = roi_align(f, boxes, bi, 7, 0.125, 2)
    for k in range(12):
        ref = naive_roi_align(f[bi[k]].numpy(), boxes[k].tolist(), 7, 0.125, 2)
        np.testing.assert_allclose(out[k].numpy(), ref, rtol=1e-10, atol=1e-12)


def test_box_coder_round_trips_and_anchors_are_torchvision_style():
    anchors = torch.tensor([[0.0, 0, 10, 20], [5, 5, 50, 15]])
    gt = torch.tensor([[1.0, 2, 12, 18], [0, 0, 40, 30]])
    for w in [(1.0, 1, 1, 1), (10.0, 10, 5, 5)]:
        torch.testing.assert_close(decode(encode(gt, anchors, w), anchors, w), gt, rtol=1e-5, atol=1e-4)
    base = base_anchors([32, 64, 96, 128])
    assert base.shape == (36, 4)
    assert base[16].tolist() == [-16.0, -16.0, 16.0, 16.0]  # ratio 1, size 32 (index 4*4 + 0)
    a = grid_anchors(base, 2, 3, 8)
    assert a.shape == (2 * 3 * 36, 4)
    assert (a[(1 * 3 + 2) * 36 + 16] - base[16]).tolist() == [16.0, 8.0, 16.0, 8.0]


def test_chromosome_width_of_a_drawn_bar_image_is_its_bar_width():
    img = np.full((120, 200), 230, np.uint8)
    for k in range(5):
        img[10 + 20 * k:20 + 20 * k, 20:180] = 60  # five horizontal bars 10 px thick
    assert estimate_chromosome_width(img) == pytest.approx(10.0)
    assert otsu_threshold(img) == 60
    assert estimate_chromosome_width(np.full((50, 50), 200, np.uint8)) is None


def test_pale_bands_inside_a_chromosome_are_filled_but_a_frame_lines_field_is_not():
    from karyotrain.scale import foreground

    img = np.full((120, 200), 230, np.uint8)
    for k in range(5):
        img[10 + 20 * k:20 + 20 * k, 20:180] = 60  # five bars 10 px thick
        for x in range(30, 170, 8):
            img[13 + 20 * k:17 + 20 * k, x:x + 4] = 200  # pale 4x4 px bands inside each bar
    assert estimate_chromosome_width(img) == pytest.approx(10.0)  # 2.0 without filling them
    mask = foreground(img, otsu_threshold(img))
    assert mask[10:20, 20:180].all()
    framed = np.full((300, 400), 230, np.uint8)
    framed[20, 20:380] = framed[280, 20:380] = 60  # a frame line around the field
    framed[20:281, 20] = framed[20:281, 379] = 60
    framed[100:110, 100:300] = 60  # one bar 10 px thick inside it
    field = foreground(framed, otsu_threshold(framed))
    assert not field[50, 50] and field[105, 200]  # the field (far over 1% of the mask) stays background


def rod_cell(width: float, size: int = 200, supersample: int = 4, seed: int = 1) -> np.ndarray:
    """Dark rods `width` px wide at random angles on a pale background, drawn 4x finer and averaged down, so that
    their edges are partial pixels as a camera gives them."""
    rng = np.random.default_rng(seed)
    s = supersample
    big = np.full((size * s, size * s), 230.0)
    yy, xx = np.mgrid[0:size * s, 0:size * s] / s
    for _ in range(14):
        cx, cy = rng.uniform(30, size - 30, 2)
        a = rng.uniform(0, np.pi)
        half = rng.uniform(2.5, 4.5) * width
        along = np.clip((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a), -half, half)
        big[np.hypot(xx - cx - along * np.cos(a), yy - cy - along * np.sin(a)) <= width / 2] = 70
    return big.reshape(size, s, size, s).mean(axis=(1, 3))


@pytest.mark.parametrize("width", [5.0, 5.5, 6.0, 7.0, 8.0])
def test_narrow_chromosomes_are_measured_on_the_image_enlarged_2x_within_6_percent(width):
    from karyotrain.scale import measure
    m = measure(rod_cell(width))
    assert m["upsampled"]
    assert m["width"] == pytest.approx(width, rel=0.06)


def test_a_template_module_dead_on_chromosomes_is_revived_and_a_live_one_left_alone():
    from karyotrain.template import TemplateModule, revive_if_dead

    module = TemplateModule(channels=4)
    features = torch.randn(10, 4, 7, 7) * 20
    with torch.no_grad():
        module.conv.bias.fill_(-500.0)
        peaks = module.conv(features).amax(dim=(1, 2, 3))
    assert bool((peaks <= 0).all())
    assert revive_if_dead(module, peaks)
    with torch.no_grad():
        revived = module.conv(features).amax(dim=(1, 2, 3))
    assert 0.3 <= float((revived > 0).float().mean()) <= 0.7  # about half of the RoIs alive again
    assert float(revived.median().abs()) < 1e-3 and float((revived - revived.median()).abs().median()) == \
        pytest.approx(1.0, rel=1e-4)
    alive = torch.tensor([1.0, -2.0, 0.5, -1.0, 2.0, -3.0, 0.1, -0.2])
    before = module.conv.bias.detach().item()
    assert not revive_if_dead(module, alive)
    assert module.conv.bias.detach().item() == before
    assert not revive_if_dead(module, torch.tensor([-1.0, -2.0]))  # too few RoIs to judge


@pytest.mark.parametrize("method", ["eg-nms", "nms", "soft-nms"])
def test_more_than_100_separate_detections_all_survive_post_processing(method):
    """A 92-chromosome cell with its debris and split boxes yields well over 100 candidates: none may be cut off."""
    from karyotrain import config
    from karyotrain.model import DeepACE
    cfg = config.load(overrides={"backbone": {"width": 8}, "fpn": {"channels": 16}, "box_head": {
        "representation_size": 16}, "postprocess": {"method": method}})
    model = DeepACE(cfg)
    xy = torch.stack(torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij"), -1).reshape(-1, 2)[:140]
    boxes = torch.cat([xy * 30, xy * 30 + 20], dim=1)  # 140 boxes, 10 px apart: nothing overlaps
    scores = torch.linspace(0.99, 0.6, 140)
    idx, kept = model.postprocess(boxes, scores, torch.linspace(-1, 1, 140))
    assert len(idx) == 140 and float(kept.min()) == pytest.approx(0.6)
