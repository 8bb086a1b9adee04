"""Parameter counts (without allocating: meta device), FLOP estimates and MFU.

``python -m model.flops`` prints the parameter counts of every preset.
"""

from __future__ import annotations

import torch

from model.config import (
    BASE_PRESETS,
    UPSAMPLER_PRESETS,
    DiTConfig,
    FourDConfig,
    UpsamplerConfig,
    fourd_preset,
)

H100_BF16_PEAK_FLOPS = 989e12  # dense bf16, SXM


def param_count(
    cfg: DiTConfig | FourDConfig | UpsamplerConfig, trainable_only: bool = False
) -> int:
    """Parameters of the model of ``cfg``, built on the meta device (no memory)."""
    from model.checkpoint import build_model  # local: checkpoint imports every model

    with torch.device("meta"):
        model = build_model(cfg)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _matmul_params(cfg: DiTConfig) -> int:
    """Parameters used once per token in a forward pass (blocks' linears + in/out projections)."""
    d, hidden = cfg.dim, int(cfg.dim * cfg.mlp_ratio)
    per_block = 3 * d * d + d * d + 2 * d * hidden  # qkv, proj, mlp
    patch = cfg.patch_size**2
    return cfg.depth * per_block + patch * cfg.in_channels * d + d * patch * cfg.out_channels


def forward_flops(cfg: DiTConfig, videos: int, frames: int, height: int, width: int) -> float:
    """FLOPs of one base forward over ``videos`` videos of ``frames`` frames (full attention)."""
    n = frames * (height // cfg.patch_size) * (width // cfg.patch_size)  # tokens per video
    linear = 2.0 * _matmul_params(cfg) * n
    attention = 4.0 * cfg.depth * n * n * cfg.dim  # QK^T and AV
    return videos * (linear + attention)


def estimate_flops_per_step(
    cfg: DiTConfig | FourDConfig, batch: int, frames: int | tuple[int, int], height: int, width: int
) -> float:
    """Training FLOPs per optimiser step.

    Base (``DiTConfig``, ``frames`` = F): forward + backward = 3 x forward.
    4D (``FourDConfig``, ``frames`` = (V, T)): per layer the frozen block runs
    on T freeze-time videos of V frames and on V fixed-view videos of T frames
    (``sequential`` too); backward needs activation gradients only, about one
    more forward (weight gradients of the frozen base are skipped). Sync layers
    are small and not counted.
    """
    if isinstance(cfg, FourDConfig) and cfg.sync == "fused":
        return fused_flops_per_step(cfg, batch, frames, height, width)
    if isinstance(cfg, FourDConfig):
        V, T = frames
        fwd = forward_flops(cfg.base, batch * T, V, height, width)
        fwd += forward_flops(cfg.base, batch * V, T, height, width)
        return 2.0 * fwd
    return 3.0 * forward_flops(cfg, batch, int(frames), height, width)


def fused_flops_per_step(
    cfg: FourDConfig, batch: int, frames: tuple[int, int], height: int, width: int
) -> float:
    """The fused variant: every block once over the grid's ``V T n`` tokens, each query
    attending ``(V + T - 1) n`` keys; the base trains, so backward is 2 x forward."""
    V, T = frames
    base = cfg.base
    n = (height // base.patch_size) * (width // base.patch_size)
    tokens = V * T * n
    linear = 2.0 * _matmul_params(base) * tokens
    attention = 4.0 * base.depth * tokens * (V + T - 1) * n * base.dim
    return 3.0 * batch * (linear + attention)


def mfu(
    flops_per_step: float, seconds_per_step: float, peak_flops: float = H100_BF16_PEAK_FLOPS
) -> float:
    """Model FLOPs utilisation in [0, 1]."""
    return flops_per_step / seconds_per_step / peak_flops


def print_param_counts() -> dict[str, dict[str, int]]:
    """Print and return the parameter counts of every preset."""
    counts: dict[str, dict[str, int]] = {}
    for name in BASE_PRESETS:
        counts[name] = {
            "base": param_count(BASE_PRESETS[name]),
            "sync_soft": param_count(fourd_preset(name, "soft"), trainable_only=True),
            "sync_hard": param_count(fourd_preset(name, "hard"), trainable_only=True),
            "fused_full": param_count(fourd_preset(name, "fused"), trainable_only=True),
            "fused_lora16": param_count(
                fourd_preset(name, "fused", finetune="lora"), trainable_only=True
            ),
            "upsampler": param_count(UPSAMPLER_PRESETS[name]),
        }
        row = "  ".join(f"{k} {v / 1e6:9.3f}M" for k, v in counts[name].items())
        print(f"{name:6s} {row}")
    return counts


if __name__ == "__main__":
    print_param_counts()
