"""Affine warps of a clip into a V x T grid (pseudo-4D), on CPU or a torch device.

Convention (the pseudo-4D export contract): pixel coordinates ``(x, y)`` with
pixel centres at integers; ``affine[v]`` (2x3) takes an output pixel to the
source pixel it samples, bilinearly::

    grid[v, t](x, y) = frames[t](affine[v] @ [x, y, 1])

The sample store materialises virtual pseudo-4D samples with these functions,
so a grid read back equals the grid the build would have written.
"""

from __future__ import annotations

import numpy as np

WARP_BACKENDS = ("torch", "opencv")


def source_coords(affine: np.ndarray, height: int, width: int) -> np.ndarray:
    """Source pixel ``(x, y)`` of every output pixel: float64 ``[V, H, W, 2]``."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    pts = np.stack([xs, ys, np.ones_like(xs)], -1)  # (H, W, 3)
    return np.einsum("vij,hwj->vhwi", affine, pts)


def warp_frames(frames: np.ndarray, affine: np.ndarray, backend: str = "torch") -> np.ndarray:
    """``grid[v, t] = frames[t]`` sampled at ``affine[v] @ [x, y, 1]``: uint8 ``[V, T, H, W, 3]``.

    ``torch`` (default, exact): one batched ``grid_sample`` over all ``V*T``
    pairs, bilinear in float32, ``align_corners=True`` so that normalised
    -1/+1 are the centres of the first/last pixels (the integer-centre
    convention), rounded half up. ``opencv``: ``cv2.warpAffine`` with the
    same map (``WARP_INVERSE_MAP``); several times faster, but OpenCV
    quantises source coordinates to 1/32 pixel, so values may differ from
    exact bilinear by a few levels at sharp edges.
    """
    if backend == "opencv":
        return _warp_opencv(frames, affine)
    if backend != "torch":
        raise ValueError(f"backend: expected one of {WARP_BACKENDS}, got {backend!r}")
    import torch

    out = warp_tensor(torch.from_numpy(np.ascontiguousarray(frames)), affine)
    return out.numpy()


def _warp_opencv(frames: np.ndarray, affine: np.ndarray) -> np.ndarray:
    import cv2

    t, h, w, _ = frames.shape
    v = affine.shape[0]
    out = np.empty((v, t, h, w, 3), np.uint8)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for vi in range(v):
        for ti in range(t):
            cv2.warpAffine(
                frames[ti],
                affine[vi],
                (w, h),
                dst=out[vi, ti],
                flags=flags,
                borderMode=cv2.BORDER_REPLICATE,
            )  # in place, no copy
    return out


def warp_tensor(frames, affine: np.ndarray, device=None):
    """The ``torch`` warp on a tensor: uint8 ``[T, H, W, 3]`` -> uint8 ``[V, T, H, W, 3]``.

    Runs on ``device`` (default: the tensor's), so a training loader can ship
    the clip (V times smaller than its grid) and warp on the accelerator. The
    sampling grid is computed in float64 on the CPU and rounded to float32
    once, so CPU and device results agree up to the device's bilinear
    arithmetic.
    """
    import torch
    import torch.nn.functional as F

    device = frames.device if device is None else torch.device(device)
    t, h, w, _ = frames.shape
    v = affine.shape[0]
    coords = source_coords(np.asarray(affine, np.float64), h, w)  # (V, H, W, 2) pixels
    scale = np.array([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)])
    norm = torch.from_numpy((coords * scale - 1.0).astype(np.float32)).to(device)
    norm = norm.repeat_interleave(t, dim=0)  # (V*T, H, W, 2), view-major
    x = frames.to(device).permute(0, 3, 1, 2).float()  # (T, 3, H, W)
    x = x.repeat(v, 1, 1, 1)  # (V*T, 3, H, W), view-major
    with torch.no_grad():
        y = F.grid_sample(x, norm, mode="bilinear", padding_mode="border", align_corners=True)
    y = y.add_(0.5).clamp_(0, 255).to(torch.uint8)
    return y.reshape(v, t, 3, h, w).permute(0, 1, 3, 4, 2).contiguous()  # (V, T, H, W, 3)
