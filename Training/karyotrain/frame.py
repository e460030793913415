"""The CytoVision frame line: exports draw a thin dark line around the camera field, and chromosomes of a
neighbouring cell cut by it are not part of the counted cell. Mirrors the Swift `FieldOfView` exactly.
"""

import numpy as np

MIN_STEP = np.float32(0.15)
MIN_FRACTION = np.float32(0.6)
MARGIN = 1.0  # px: a detection reaching within this of a found frame line is a cut neighbour


def _line_fractions(a: np.ndarray) -> np.ndarray:
    """For each row of a (values 0..1), the fraction of its pixels darker by MIN_STEP than two rows above and below."""
    m, n = a.shape
    out = np.zeros(m, dtype=np.float32)
    if m >= 5:
        v = a[2:-2]
        hits = ((v < a[:-4] - MIN_STEP) & (v < a[4:] - MIN_STEP)).sum(axis=1)
        out[2:-2] = hits.astype(np.float32) / np.float32(n)
    return out


def field_of_view(image) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the pixels strictly inside the frame lines found (each side on its own; the image's own
    edge where none), for a grey image with values 0..255."""
    a = np.asarray(image, dtype=np.float32) / np.float32(255)
    h, w = a.shape
    x0, y0, x1, y1 = 0, 0, w, h
    if w < 16 or h < 16:
        return x0, y0, x1, y1
    rows, cols = _line_fractions(a), _line_fractions(np.ascontiguousarray(a.T))
    top = [i for i in range(2, h // 4) if rows[i] >= MIN_FRACTION]
    bottom = [i for i in range(3 * h // 4, h - 2) if rows[i] >= MIN_FRACTION]
    left = [i for i in range(2, w // 4) if cols[i] >= MIN_FRACTION]
    right = [i for i in range(3 * w // 4, w - 2) if cols[i] >= MIN_FRACTION]
    if top:
        y0 = top[-1] + 2
    if bottom:
        y1 = bottom[0] - 1
    if left:
        x0 = left[-1] + 2
    if right:
        x1 = right[0] - 1
    return x0, y0, x1, y1


def inside_frame(boxes, field, width: int, height: int) -> np.ndarray:
    """Mask of the boxes (N,4, source pixels) that stay clear of every frame line found."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = field
    keep = np.ones(b.shape[0], dtype=bool)
    if x0 > 0:
        keep &= b[:, 0] >= x0 + MARGIN
    if y0 > 0:
        keep &= b[:, 1] >= y0 + MARGIN
    if x1 < width:
        keep &= b[:, 2] <= x1 - MARGIN
    if y1 < height:
        keep &= b[:, 3] <= y1 - MARGIN
    return keep
