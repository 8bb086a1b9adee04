"""The fused view-time attention pattern of a grid, dense or as a flex_attention block mask.

Tokens of a ``V x T`` grid with ``n`` tokens per frame are laid out
``(v, t, patch)``. Query ``(v1, t1, .)`` may attend key ``(v2, t2, .)`` iff

    v1 == v2  (same view: the fixed-view video)   or   t1 == t2  (same time: the
    freeze-time video) -- which includes the query's own frame.

Each query sees ``(V + T - 1) * n`` keys instead of ``V * T * n``.

Two forms of the same mask (4Real-Video-V2's sparse pattern):

* :func:`dense_grid_mask`: a bool ``[N, N]`` tensor for SDPA (any device; its
  ``N^2`` bytes are the price: 1.27 GiB for an 8x8 grid at 72x128, patch 4);
* :func:`grid_block_mask`: a ``BlockMask`` for ``flex_attention``, whose
  kernels skip the blocks the pattern rules out and never materialise the
  ``N x N`` scores. On CUDA the kernel is compiled (:func:`flex_attend`).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

# flex_attention's block size: tokens per (query, key) tile of the block mask.
FLEX_BLOCK = 128


def frame_axes(V: int, T: int, n: int, device=None) -> tuple[Tensor, Tensor]:
    """View and time index of every token of the ``(v, t, patch)`` layout: two ``[V T n]``."""
    frame = torch.arange(V * T * n, device=device) // n
    return frame // T, frame % T


def dense_grid_mask(V: int, T: int, n: int, device=None) -> Tensor:
    """Bool ``[N, N]``, ``N = V T n``: True where query row may attend key column."""
    view, time = frame_axes(V, T, n, device)
    return (view[:, None] == view[None]) | (time[:, None] == time[None])


def grid_block_mask(V: int, T: int, n: int, device=None):
    """The same pattern as a flex_attention ``BlockMask`` (cached per shape and device)."""
    return _block_mask(V, T, n, str(torch.device(device or "cpu")))


@lru_cache(maxsize=16)
def _block_mask(V: int, T: int, n: int, device: str):
    from torch.nn.attention.flex_attention import create_block_mask

    view, time = frame_axes(V, T, n, device)

    def same_view_or_time(b, h, q, k):
        return (view[q] == view[k]) | (time[q] == time[k])

    N = V * T * n
    block = min(FLEX_BLOCK, N)
    return create_block_mask(
        same_view_or_time, B=None, H=None, Q_LEN=N, KV_LEN=N, device=device, BLOCK_SIZE=block
    )


def flex_attend(q: Tensor, k: Tensor, v: Tensor, block_mask) -> Tensor:
    """``flex_attention(q, k, v, block_mask)``: compiled on CUDA, eager (forward only) elsewhere."""
    from torch.nn.attention.flex_attention import flex_attention

    if q.device.type == "cuda":
        return _compiled_flex()(q, k, v, block_mask=block_mask)
    return flex_attention(q, k, v, block_mask=block_mask)


@lru_cache(maxsize=1)
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def attended_fraction(V: int, T: int) -> float:
    """Share of the ``N x N`` pairs the pattern keeps: ``(V + T - 1) / (V T)``."""
    return (V + T - 1) / (V * T)
