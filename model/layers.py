"""DiT building blocks: embedders, attention, the adaLN-Zero block, the final layer.

Every block is callable standalone on any token layout:
``block(x [B, N, D], c [B, D], rope=(cos, sin) [N, head_dim / 2])``, which is
what lets the 4D model run the same frozen block on freeze-time and
fixed-view groupings of one grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from model.rope import apply_rope

Rope = tuple[Tensor, Tensor]
# Which keys each query may attend to: None (all), a bool ``[N, N]`` tensor (True = attend;
# through SDPA) or a flex_attention ``BlockMask`` (sparse kernels; model.fused builds both).
AttentionMask = object


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation: ``x [B, N, D]``, shift/scale ``[B, D]``."""
    return x * (1 + scale[:, None]) + shift[:, None]


def timestep_features(s: Tensor, dim: int = 256, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features of ``s [B]`` in [0, 1] (scaled by 1000 as in DiT) -> ``[B, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=s.device) / half)
    args = 1000.0 * s.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, dim)


class TimestepEmbedder(nn.Module):
    """Scalar in [0, 1] -> vector: sinusoidal features then a two-layer MLP."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, s: Tensor) -> Tensor:
        """``s [B]`` -> ``[B, D]``."""
        feats = timestep_features(s, self.freq_dim).to(self.mlp[0].weight.dtype)
        return self.mlp(feats)


class PatchEmbed(nn.Module):
    """Frames to tokens: non-overlapping ``p x p`` patches, one linear map."""

    def __init__(self, patch: int, in_channels: int, dim: int):
        super().__init__()
        self.patch = patch
        self.proj = nn.Linear(patch * patch * in_channels, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, F, C, H, W]`` -> tokens ``[B, F, (H/p)(W/p), D]``."""
        p = self.patch
        x = rearrange(x, "b f c (h p) (w q) -> b f (h w) (p q c)", p=p, q=p)
        return self.proj(x)


class Attention(nn.Module):
    """Full self-attention over all tokens with 3D RoPE and optional QK-norm."""

    def __init__(self, dim: int, heads: int, qk_norm: bool = True):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        head_dim = dim // heads
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: Rope, mask: AttentionMask | None = None) -> Tensor:
        """``x [B, N, D]`` -> ``[B, N, D]``; ``mask`` restricts which keys a query sees."""
        qkv = rearrange(self.qkv(x), "b n (k h d) -> k b h n d", k=3, h=self.heads)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = attend(q, k, v, mask)  # (B, heads, N, head_dim)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


def attend(q: Tensor, k: Tensor, v: Tensor, mask: AttentionMask | None) -> Tensor:
    """Scaled dot-product attention, dense or under ``mask`` (see :data:`AttentionMask`)."""
    if mask is None or isinstance(mask, Tensor):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    from model.sparse import flex_attend  # a BlockMask: the sparse kernel

    return flex_attend(q, k, v, mask)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """adaLN-Zero transformer block. Includes its residuals: returns ``x + phi(x; c)``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, qk_norm: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads, qk_norm)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        # activation checkpointing when trained: False | True (full) | "selective"
        # (set by the model that holds the block: DiT.set_checkpointing)
        self.checkpointing: bool | str = False

    def forward(
        self, x: Tensor, c: Tensor, rope: Rope, mask: AttentionMask | None = None
    ) -> Tensor:
        """``x [B, N, D]`` tokens of B videos, ``c [B, D]`` condition, rope for the layout."""
        mods = self.adaLN_modulation(c).chunk(6, dim=-1)  # 6 x (B, D)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mods
        h = modulate(self.norm1(x), shift_msa, scale_msa)
        x = x + gate_msa[:, None] * self.attn(h, rope, mask)
        x = x + gate_mlp[:, None] * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x  # (B, N, D)


class FinalLayer(nn.Module):
    """adaLN-modulated norm, then tokens back to pixel patches."""

    def __init__(self, dim: int, patch: int, out_channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """``x [B, N, D]``, ``c [B, D]`` -> ``[B, N, p * p * C_out]``."""
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)  # (B, D) each
        return self.linear(modulate(self.norm(x), shift, scale))
