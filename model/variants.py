"""Every 4D variant, declared once: name -> construction, what trains, description.

The config's allowed ``sync`` values, the training parameters, the CLI's
choices, the Prefect form's enum, the ablation's list and the docs table all
derive from :data:`VARIANTS`. Adding a variant is one entry here plus its own
module (a class taking ``(base: DiT, cfg: FourDConfig)`` whose forward maps
``(x [B,V,T,3,H,W], s [B], known [B,V,T])`` to the grid velocity, with
``trainable_parameters()`` and ``stream_velocities()``).

This module holds names and words only, so that ``model.config`` can check a
name without importing the models; :func:`variant_class` imports the class.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Variant:
    name: str
    model: str
    """``module:Class`` of the model (imported on use)."""
    trains: str
    """What training updates (the base frozen or fine-tuned)."""
    description: str
    finetunes_base: bool = False
    """True: the base's weights (or LoRA adapters on them) train too (``FourDConfig.finetune``)."""


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "sequential",
            "model.fourd:FourDModel",
            "gated increments after each pass (soft's budget); base frozen",
            "the baseline: one stream, a freeze-time pass then a fixed-view pass in every block",
        ),
        Variant(
            "hard",
            "model.fourd:FourDModel",
            "per-layer merge weights (start I/2); base frozen",
            "two streams merged into one after every block (4Real-Video, hard sync)",
        ),
        Variant(
            "soft",
            "model.fourd:FourDModel",
            "per-layer zero-initialised increments; base frozen",
            "two streams pulled together after every block (4Real-Video, soft sync)",
        ),
        Variant(
            "fused",
            "model.fused:FusedModel",
            "the base (all of it, or LoRA adapters), a fused context, view/time embeddings",
            "one sparse attention per block over the grid: same view or same time "
            "(4Real-Video-V2's fused view-time attention)",
            finetunes_base=True,
        ),
    )
}
VARIANT_NAMES: tuple[str, ...] = tuple(VARIANTS)
# For typed parameters (pydantic, Prefect's form, typer choices): built from the registry.
VariantName = Literal[VARIANT_NAMES]  # type: ignore[valid-type]
# How a fine-tuning variant trains the base: every weight, or LoRA adapters (peft).
FINETUNE_MODES: tuple[str, ...] = ("full", "lora")


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"sync must be one of {VARIANT_NAMES}, got {name!r}")
    return VARIANTS[name]


def variant_class(name: str) -> type:
    """The model class of variant ``name``."""
    module, cls = get_variant(name).model.split(":")
    return getattr(importlib.import_module(module), cls)


def help_line() -> str:
    """``sequential | hard | soft | fused``: the choices as a CLI help text."""
    return " | ".join(VARIANT_NAMES)


def markdown_table() -> str:
    """The docs table of the variants (docs/model.md embeds it; a test keeps them equal)."""
    rows = ["| variant | what it is | what trains |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.description} | {v.trains} |" for v in VARIANTS.values()]
    return "\n".join(rows)
