"""The CytoVision frame-line rule (MODEL.md step 17) on hand-made images and boxes."""

import numpy as np

from karyotrain.frame import field_of_view, inside_frame


def framed_image(w=400, h=300, top=30, bottom=270, left=None, right=370):
    img = np.full((h, w), 235, dtype=np.uint8)
    img[top, :] = 90
    img[bottom, :] = 90
    if left is not None:
        img[:, left] = 90
    img[:, right] = 90
    img[100:140, 150:160] = 60  # a chromosome: not a line
    return img


def test_the_field_lies_strictly_inside_the_lines_found():
    assert field_of_view(framed_image()) == (0, 32, 369, 269)
    assert field_of_view(framed_image(left=12)) == (14, 32, 369, 269)
    assert field_of_view(np.full((300, 400), 235, dtype=np.uint8)) == (0, 0, 400, 300)


def test_boxes_reaching_a_found_line_are_dropped_and_image_edges_are_not_lines():
    field = (0, 32, 369, 269)
    boxes = [[150, 100, 160, 140],   # inside
             [200, 28, 230, 50],     # across the top line
             [300, 250, 320, 268.5],  # 0.5 px from the bottom end of the field
             [200, 33, 220, 60],     # exactly 1 px inside: kept
             [0, 100, 20, 130]]      # at the left edge, where there is no line
    assert inside_frame(boxes, field, 400, 300).tolist() == [True, False, False, True, True]
    assert inside_frame(boxes, (0, 0, 400, 300), 400, 300).all()
