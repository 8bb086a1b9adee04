"""Model configurations and named presets (``tiny``, ``small``, ``paper``).

Configs are frozen dataclasses; every invalid value raises ``ValueError``
naming the field, at construction, before any work starts. A config says what
a model *is*; :func:`validate_for_data` says whether it fits a given grid.

Parameter counts (``python -m model.flops``, base / soft sync / hard sync / upsampler):
tiny 0.19M / 0.042M / 0.025M / 1.0M; small 32.5M / 7.40M / 3.86M / 23.0M;
paper 626M / 141M / 71.8M / 132M (sequential: soft's count).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from model.variants import FINETUNE_MODES, VariantName, get_variant

SyncKind = VariantName  # the 4D variants of model.variants
# What the network's head outputs (docs/model.md#what-the-network-predicts). Both train on
# the same velocity loss and sample with the same Euler ODE; "x0" derives the velocity
# from a predicted clean frame, v = (x_s - x0_hat) / s.
PREDICTIONS: tuple[str, ...] = ("x0", "velocity")
# Configs saved before ``prediction`` existed were velocity models.
LEGACY_PREDICTION = "velocity"
# Activation checkpointing of the transformer blocks. ``False`` keeps every activation;
# ``True`` (full) keeps each block's input and recomputes the block in backward;
# ``"selective"`` keeps the outputs of matmuls and attention and recomputes only the
# cheap pointwise ops (norms, modulation, RoPE, GELU) -- most of the saving, little compute.
CHECKPOINTING_MODES = {"off": False, "full": True, "selective": "selective"}


def checkpointing_mode(value: bool | str) -> bool | str:
    """``False`` | ``True`` | ``"selective"`` from a bool or a mode name (off | full | selective)."""
    if isinstance(value, bool):
        return value
    if value not in CHECKPOINTING_MODES:
        raise ValueError(
            f"grad_checkpointing must be a bool or one of {sorted(CHECKPOINTING_MODES)}, "
            f"got {value!r}"
        )
    return CHECKPOINTING_MODES[value]


def _normalise_checkpointing(obj) -> None:
    object.__setattr__(obj, "grad_checkpointing", checkpointing_mode(obj.grad_checkpointing))


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True, kw_only=True)
class DiTConfig:
    """Pixel-space video DiT (the base model ``phi`` of docs/model.md#the-base-video-model)."""

    height: int = 72
    """Nominal frame height in pixels (training resolution; RoPE allows others)."""
    width: int = 128
    """Nominal frame width in pixels."""
    max_frames: int = 16
    """Longest video (and so the largest V or T of a grid) the model accepts."""
    patch_size: int = 4
    """Square patch side in pixels; height and width must be divisible by it."""
    in_channels: int = 3
    """Input channels per pixel (3 for RGB; the upsampler adds its condition)."""
    out_channels: int = 3
    """Predicted channels per pixel (the velocity of RGB)."""
    dim: int = 1152
    """Token width D."""
    depth: int = 26
    """Number of DiT blocks."""
    heads: int = 16
    """Attention heads; dim must be divisible by heads."""
    mlp_ratio: float = 4.0
    """MLP hidden width = mlp_ratio * dim."""
    qk_norm: bool = True
    """RMS-normalise queries and keys (stabilises bf16 training)."""
    rope_theta: float = 10000.0
    """RoPE base period, shared by the (frame, y, x) axes."""
    num_contexts: int = 2
    """Size of the context embedding table (core.grid.MODES)."""
    grad_checkpointing: bool | str = False
    """Activation checkpointing of the blocks: False | True (full) | "selective"."""
    prediction: str = "x0"
    """Head output: ``x0`` (the clean frames; the velocity is derived) or ``velocity``."""

    def __post_init__(self) -> None:
        _normalise_checkpointing(self)
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        _positive(self, "height", "width", "max_frames", "patch_size", "in_channels")
        _positive(self, "out_channels", "dim", "depth", "heads", "mlp_ratio", "num_contexts")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if (self.dim // self.heads) % 2:
            raise ValueError(f"head dim dim/heads = {self.dim // self.heads} must be even (RoPE)")
        if self.dim // self.heads < 6:
            raise ValueError(f"head dim dim/heads = {self.dim // self.heads} must be >= 6 (RoPE)")
        for name in ("height", "width"):
            if getattr(self, name) % self.patch_size:
                raise ValueError(
                    f"{name} {getattr(self, name)} is not divisible by patch_size {self.patch_size}"
                )

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def tokens_per_frame(self) -> int:
        return (self.height // self.patch_size) * (self.width // self.patch_size)


@dataclass(frozen=True, kw_only=True)
class FourDConfig:
    """4D model: a base video model and the variant (model.variants) that makes it see grids."""

    base: DiTConfig
    """Config of the base model."""
    sync: str = "soft"
    """The 4D variant: ``sequential``, ``hard``, ``soft`` or ``fused`` (model.variants)."""
    finetune: str = ""
    """How the base trains: ``frozen`` (sync variants), ``full`` or ``lora`` (variants that
    fine-tune it; ``""`` takes the variant's default: ``full`` for them, ``frozen`` otherwise)."""
    lora_rank: int = 16
    """Rank of the LoRA adapters when ``finetune == "lora"``."""

    def __post_init__(self) -> None:
        if isinstance(self.base, dict):  # rebuilt from JSON
            object.__setattr__(self, "base", DiTConfig(**legacy_dit_fields(self.base)))
        variant = get_variant(self.sync)
        modes = FINETUNE_MODES if variant.finetunes_base else ("frozen",)
        finetune = self.finetune or modes[0]
        if finetune not in modes:
            raise ValueError(
                f"finetune for sync={self.sync!r} must be one of {modes}, got {finetune!r}"
            )
        object.__setattr__(self, "finetune", finetune)
        _positive(self, "lora_rank")


@dataclass(frozen=True, kw_only=True)
class UpsamplerConfig:
    """Video diffusion upsampler: low-res frames in, ``scale`` x larger frames out."""

    low_height: int = 72
    """Height of the low-resolution input frames."""
    low_width: int = 128
    """Width of the low-resolution input frames."""
    scale: int = 4
    """Upsampling factor per side (72x128 -> 288x512)."""
    max_frames: int = 16
    """Longest video upsampled in one call (a fixed-view video has T frames)."""
    patch_size: int = 16
    """Patch side at high resolution (large patches keep the token count low)."""
    dim: int = 768
    """Token width."""
    depth: int = 12
    """Number of DiT blocks."""
    heads: int = 12
    """Attention heads."""
    mlp_ratio: float = 4.0
    """MLP hidden width = mlp_ratio * dim."""
    max_aug: float = 0.3
    """Training draws the condition's noise-augmentation level from U(0, max_aug)."""
    grad_checkpointing: bool | str = False
    """Activation checkpointing of the blocks: False | True (full) | "selective"."""
    prediction: str = "x0"
    """Head output of the DiT inside: ``x0`` (the high-res frames) or ``velocity``."""
    residual: bool = True
    """With ``x0`` prediction: the head predicts the high-res frames minus the bicubic
    upsampling of the clean low-res frames, so the untrained upsampler already returns
    bicubic and training only has to learn the detail bicubic misses."""

    def __post_init__(self) -> None:
        _normalise_checkpointing(self)
        _positive(self, "low_height", "low_width", "scale", "max_frames", "patch_size")
        if self.residual and self.prediction != "x0":
            raise ValueError("residual=True needs prediction='x0' (a residual over the frames)")
        if not 0.0 <= self.max_aug < 1.0:
            raise ValueError(f"max_aug must be in [0, 1), got {self.max_aug}")
        self.dit()  # validates dim/heads/patch against the high resolution

    @property
    def height(self) -> int:
        return self.low_height * self.scale

    @property
    def width(self) -> int:
        return self.low_width * self.scale

    def dit(self) -> DiTConfig:
        """The DiT inside: noisy RGB + upsampled condition in, RGB velocity out."""
        return DiTConfig(
            height=self.height,
            width=self.width,
            max_frames=self.max_frames,
            patch_size=self.patch_size,
            in_channels=6,
            out_channels=3,
            dim=self.dim,
            depth=self.depth,
            heads=self.heads,
            mlp_ratio=self.mlp_ratio,
            grad_checkpointing=self.grad_checkpointing,
            prediction=self.prediction,
        )


# ---------------------------------------------------------------- presets
# tiny: CPU tests in seconds. small: one GPU, quick experiments at 36x64
# (the first stage of progressive resolution). paper: ~600M at 72x128.
BASE_PRESETS: dict[str, DiTConfig] = {
    # tiny: patch 4 keeps a patch (4*4*3 = 48 values) narrower than the width (64),
    # so even the smallest model can carry the noise it must predict.
    "tiny": DiTConfig(height=16, width=32, max_frames=8, patch_size=4, dim=64, depth=2, heads=4),
    "small": DiTConfig(
        height=36, width=64, max_frames=16, patch_size=4, dim=384, depth=12, heads=6
    ),
    "paper": DiTConfig(
        height=72, width=128, max_frames=16, patch_size=4, dim=1152, depth=26, heads=16
    ),
}

UPSAMPLER_PRESETS: dict[str, UpsamplerConfig] = {
    # tiny takes the tiny base's 16x32 frames, as small and paper take their base's;
    # its width (192) covers the 8*8*3 values of an output patch.
    "tiny": UpsamplerConfig(
        low_height=16, low_width=32, scale=4, max_frames=8, patch_size=8, dim=192, depth=1, heads=4
    ),
    "small": UpsamplerConfig(
        low_height=36, low_width=64, scale=4, patch_size=16, dim=384, depth=8, heads=6
    ),
    "paper": UpsamplerConfig(
        low_height=72, low_width=128, scale=4, patch_size=16, dim=768, depth=12, heads=12
    ),
}


def _preset(table: dict, name: str):
    if name not in table:
        raise ValueError(f"preset must be one of {sorted(table)}, got {name!r}")
    return table[name]


def base_preset(name: str, **overrides) -> DiTConfig:
    """Named base config, with optional field overrides."""
    return dataclasses.replace(_preset(BASE_PRESETS, name), **overrides)


def fourd_preset(
    name: str, sync: str = "soft", *, finetune: str = "", lora_rank: int = 16, **overrides
) -> FourDConfig:
    """Named 4D config: the base preset of that name (``overrides`` go to it) plus a variant."""
    return FourDConfig(
        base=base_preset(name, **overrides), sync=sync, finetune=finetune, lora_rank=lora_rank
    )


def upsampler_preset(name: str, **overrides) -> UpsamplerConfig:
    """Named upsampler config, with optional field overrides."""
    return dataclasses.replace(_preset(UPSAMPLER_PRESETS, name), **overrides)


def validate_for_data(cfg: DiTConfig | FourDConfig, V: int, T: int, H: int, W: int) -> None:
    """Raise ``ValueError`` naming the field if grids of shape (V, T, H, W) don't fit ``cfg``."""
    base = cfg.base if isinstance(cfg, FourDConfig) else cfg
    for name, value in (("V", V), ("T", T), ("height", H), ("width", W)):
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    for name, value in (("V", V), ("T", T)):
        if value > base.max_frames:
            raise ValueError(f"{name} {value} exceeds max_frames {base.max_frames}")
    if isinstance(cfg, FourDConfig) and (V < 2 or T < 2):
        raise ValueError(f"a 4D grid needs V >= 2 and T >= 2, got V={V} T={T}")
    for name, value in (("height", H), ("width", W)):
        if value % base.patch_size:
            raise ValueError(f"{name} {value} is not divisible by patch_size {base.patch_size}")


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


CONFIG_KINDS = {"dit": DiTConfig, "fourd": FourDConfig, "upsampler": UpsamplerConfig}


def legacy_dit_fields(data: dict) -> dict:
    """A saved DiT/upsampler config dict, with the fields that postdate it at their old value."""
    return {"prediction": LEGACY_PREDICTION, **data}


def legacy_upsampler_fields(data: dict) -> dict:
    """A saved upsampler config dict: a config from before ``residual`` had none."""
    return {"residual": False, **legacy_dit_fields(data)}


def config_from_dict(kind: str, data: dict):
    """Rebuild a config from :func:`config_to_dict` output (JSON sidecars)."""
    if kind not in CONFIG_KINDS:
        raise ValueError(f"kind must be one of {sorted(CONFIG_KINDS)}, got {kind!r}")
    if kind == "dit":
        data = legacy_dit_fields(data)
    elif kind == "upsampler":
        data = legacy_upsampler_fields(data)
    return CONFIG_KINDS[kind](**data)


def config_kind(cfg) -> str:
    for kind, cls in CONFIG_KINDS.items():
        if isinstance(cfg, cls):
            return kind
    raise ValueError(f"config must be one of {list(CONFIG_KINDS.values())}, got {type(cfg)}")
