"""The intensity range rule (MODEL.md step 2a) on hand-made images, and its place in `prepare`."""

import numpy as np
import pytest

from karyotrain.intensity import levels, linear_map, measure_range
from karyotrain.model import prepare

RANGE = {"background": [222.0, 255.0], "contrast": [80.0, 150.0]}


def bars(background: int, ink: int) -> np.ndarray:
    """Five dark bars (40% of the pixels) on a flat background."""
    img = np.full((100, 100), background, np.uint8)
    for k in range(5):
        img[20 * k:20 * k + 8, :] = ink
    return img


def test_levels_are_the_medians_either_side_of_otsus_threshold():
    img = bars(240, 100)
    img[0, :10] = 90  # ten darker pixels: the ink median stays 100
    assert levels(img) == (240.0, 100.0)
    assert levels(np.full((10, 10), 200, np.uint8)) is None


def test_an_image_inside_the_range_is_left_as_it_is():
    img = bars(240, 130)  # contrast 110
    assert linear_map(img, {"intensity_range": RANGE}) == (1.0, 0.0)
    assert linear_map(img, {}) == (1.0, 0.0)


def test_a_pale_white_export_gets_the_lowest_trained_contrast_and_keeps_its_white_background():
    img = bars(255, 215)  # background removed to white, contrast 40
    gain, offset = linear_map(img, {"intensity_range": RANGE})
    assert gain == pytest.approx(2.0)
    assert gain * 255 + offset == pytest.approx(255.0)
    assert gain * 215 + offset == pytest.approx(175.0)


def test_a_dark_background_is_lifted_into_the_range_and_too_much_contrast_is_reduced():
    gain, offset = linear_map(bars(200, 20), {"intensity_range": RANGE})  # background 200, contrast 180
    assert gain == pytest.approx(150 / 180)
    assert gain * 200 + offset == pytest.approx(222.0)
    assert gain * 20 + offset == pytest.approx(72.0)


def test_prepare_feeds_the_network_the_mapped_grey_levels():
    cfg = {"input": {"mean": 200.0, "std": 50.0, "pad_multiple": 32, "pad_value": 255.0, "working_scale": "fixed",
                     "scale": 1.0, "intensity_range": RANGE}}
    x, size, _, _ = prepare(bars(255, 215), cfg)
    assert size == (100, 100)
    assert float(x[0, 0, 0, 0]) == pytest.approx((175.0 - 200.0) / 50.0)  # a bar pixel
    assert float(x[0, 0, 10, 0]) == pytest.approx((255.0 - 200.0) / 50.0)  # background
    assert float(x[0, 0, 120, 110]) == pytest.approx((255.0 - 200.0) / 50.0)  # padding keeps the pad value
    plain = {"input": dict(cfg["input"], intensity_range=None)}
    assert float(prepare(bars(255, 215), plain)[0][0, 0, 0, 0]) == pytest.approx((215.0 - 200.0) / 50.0)


def test_the_range_is_the_5th_to_95th_percentile_of_the_training_spreads():
    images = [bars(255 - k, 255 - k - (60 + 2 * k)) for k in range(21)]  # backgrounds 255..235, contrasts 60..100
    found = measure_range(images)
    assert found["background"] == [236.0, 254.0]
    assert found["contrast"] == [62.0, 98.0]


def test_background_removal_whitens_an_uneven_background_and_keeps_the_chromosomes():
    from karyotrain.data import background_removed
    xx = np.mgrid[0:200, 0:300][1] / 300.0
    g = 0.8 + 0.15 * xx  # the lamp brighter to the right
    g[40:50, 20:280] *= 0.5  # a long dark rod across it
    out = background_removed(g, 0.9)
    assert np.all(out[100:, :] == 1.0)
    assert np.all(out[40:50, 30:270] == pytest.approx(0.5, abs=0.05))
