"""Centre-crop + resize of uint8 frames: how every stage fits frames of another size.

Builds (clips, pseudo-4D grids), generation (its conditioning videos) and
evaluation (ground truth, alpha) all fit frames with :func:`crop_resize`, so a
frame fitted anywhere is the same pixels.
"""

from __future__ import annotations

import numpy as np


def center_crop_box(src_h: int, src_w: int, out_h: int, out_w: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the largest centred box with the output's aspect."""
    if src_w * out_h >= src_h * out_w:  # source is wider: keep full height
        ch, cw = src_h, max(1, round(src_h * out_w / out_h))
    else:
        ch, cw = max(1, round(src_w * out_h / out_w)), src_w
    return (src_h - ch) // 2, (src_w - cw) // 2, ch, cw


def crop_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop uint8 ``[N, h, w, 3]`` to the output aspect, resize to ``[N, height, width, 3]``.

    OpenCV on uint8, pixel centres at integers. Shrinking averages areas (no
    aliasing): by an integer factor first (OpenCV's fast path) when the crop
    is at least twice the output, then by the rest. Enlarging is bilinear.
    """
    import cv2

    n, h, w, _ = frames.shape
    top, left, ch, cw = center_crop_box(h, w, height, width)
    crop = frames[:, top : top + ch, left : left + cw]
    if (ch, cw) == (height, width):
        return np.ascontiguousarray(crop)
    k = min(ch // height, cw // width)
    shrink = ch >= height and cw >= width
    out = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        img = np.ascontiguousarray(crop[i])
        if shrink and k >= 2 and ch % k == 0 and cw % k == 0:
            img = cv2.resize(img, (cw // k, ch // k), interpolation=cv2.INTER_AREA)
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        cv2.resize(img, (width, height), dst=out[i], interpolation=interp)
    return out
