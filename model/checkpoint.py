"""Checkpoints: safetensors for the tensors, a JSON sidecar for everything else.

``save_model("run/step_001000.safetensors", model, cfg, extra={"step": 1000})``
writes ``step_001000.safetensors`` and then ``step_001000.json`` (the sidecar:
model kind, config, sha256 of the tensor file, ``extra``), each atomically;
a checkpoint whose sidecar exists is complete. ``load_model`` rebuilds the
model from the saved config and loads the tensors strictly. No pickles.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from fourreal.core.io import atomic_path, atomic_write_text, sha256_file
from model.config import (
    DiTConfig,
    FourDConfig,
    UpsamplerConfig,
    config_from_dict,
    config_kind,
    config_to_dict,
)
from model.dit import DiT
from model.fourd import FourDModel
from model.upsampler import Upsampler

FORMAT_VERSION = 1


def sidecar_path(path: str | os.PathLike) -> Path:
    """``x.safetensors`` -> ``x.json``."""
    return Path(path).with_suffix(".json")


def build_model(cfg: DiTConfig | FourDConfig | UpsamplerConfig) -> nn.Module:
    """A freshly initialised model of the config's kind."""
    kind = config_kind(cfg)
    if kind == "dit":
        return DiT(cfg)
    if kind == "fourd":
        return FourDModel(DiT(cfg.base), cfg)
    return Upsampler(cfg)


def save_model(
    path: str | os.PathLike, model: nn.Module, config, extra: dict | None = None
) -> Path:
    """Write ``path`` (safetensors) then its JSON sidecar, both atomically; returns the sidecar."""
    if getattr(model, "cfg", None) != config:
        raise ValueError("config does not match model.cfg")
    path = Path(path)
    kind = config_kind(config)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"kind": kind, "format": str(FORMAT_VERSION)})
    sidecar = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "config": config_to_dict(config),
        "tensors": path.name,
        "sha256": sha256_file(path),
        "extra": extra or {},
    }
    side = sidecar_path(path)
    atomic_write_text(side, json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return side


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """``(model, config, extra)`` from a checkpoint written by :func:`save_model`."""
    path = Path(path)
    side = sidecar_path(path)
    if not side.exists():
        raise FileNotFoundError(f"no sidecar {side}: checkpoint incomplete or not ours")
    meta = json.loads(side.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"format {meta.get('format')} is not {FORMAT_VERSION}")
    config = config_from_dict(meta["kind"], meta["config"])
    with torch.device("meta"):  # no random init of weights about to be overwritten
        model = build_model(config)
    # assign=True adopts the loaded tensors and keeps each parameter's requires_grad;
    # one fresh (aligned) allocation per tensor keeps outputs bitwise equal to the saved model
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        state = {k: f.get_tensor(k).clone() for k in f.keys()}  # noqa: SIM118
    model.load_state_dict(state, strict=True, assign=True)
    return model, config, meta["extra"]
