"""Checkpoints: safetensors for the tensors, a JSON sidecar for everything else.

``save_model("run/step_001000.safetensors", model, cfg, extra={"step": 1000})``
writes ``step_001000.safetensors`` and then ``step_001000.json`` (the sidecar:
model kind, config, sha256 of the tensor file, ``extra``), each atomically;
a checkpoint whose sidecar exists is complete. ``load_model`` rebuilds the
model from the saved config and loads the tensors strictly. No pickles.

A 4D model saved with ``base_ref={"checkpoint_id": ..., "sha256": ...}``
holds only the tensors it trained: a sync variant's sync layers (a few hundred
MB instead of the 2.5 GB base, twice with the EMA), a LoRA-fused model's
adapters; a fully fine-tuned fused model holds its whole base. The sidecar
keeps the reference either way (lineage). Loading it needs the base file
(``load_model(path, base_path=...)``; the catalog resolves the id, see
``tasks.checkpoint_loading.load_checkpoint``), whose sha256 must be the
referenced one: a different base is refused, never silently combined.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from core.io import atomic_path, atomic_write_text, sha256_file
from model.config import (
    DiTConfig,
    FourDConfig,
    UpsamplerConfig,
    config_from_dict,
    config_kind,
    config_to_dict,
)
from model.dit import DiT
from model.fourd import build_fourd
from model.upsampler import Upsampler

FORMAT_VERSION = 1
BASE_PREFIX = "base."  # a FourDModel's frozen base in its state dict


def sidecar_path(path: str | os.PathLike) -> Path:
    """``x.safetensors`` -> ``x.json``."""
    return Path(path).with_suffix(".json")


def build_model(cfg: DiTConfig | FourDConfig | UpsamplerConfig) -> nn.Module:
    """A freshly initialised model of the config's kind."""
    kind = config_kind(cfg)
    if kind == "dit":
        return DiT(cfg)
    if kind == "fourd":
        return build_fourd(cfg)
    return Upsampler(cfg)


def saved_tensors(model: nn.Module, base_ref: dict | None = None) -> dict[str, torch.Tensor]:
    """The state dict a checkpoint holds: all of it, or (``base_ref``) all but the frozen base."""
    state = model.state_dict()
    if base_ref is not None:
        trained = {k for k, p in model.named_parameters() if p.requires_grad}
        state = {k: v for k, v in state.items() if not k.startswith(BASE_PREFIX) or k in trained}
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def load_saved_tensors(
    model: nn.Module, tensors: dict[str, torch.Tensor], base_only_missing: bool
) -> None:
    """Load ``tensors`` into ``model``: strictly, or all but the base (a sync-only checkpoint)."""
    if not base_only_missing:
        model.load_state_dict(tensors, strict=True)
        return
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    stray = [k for k in missing if not k.startswith(BASE_PREFIX)] + list(unexpected)
    if stray:
        raise ValueError(f"checkpoint tensors do not match the model: {sorted(stray)[:5]}")


def _check_base_ref(base_ref: dict) -> dict:
    if set(base_ref) != {"checkpoint_id", "sha256"} or not all(base_ref.values()):
        raise ValueError(f"base_ref must hold checkpoint_id and sha256, got {base_ref}")
    return dict(base_ref)


def save_model(
    path: str | os.PathLike,
    model: nn.Module,
    config,
    extra: dict | None = None,
    base_ref: dict | None = None,
) -> Path:
    """Write ``path`` (safetensors) then its JSON sidecar, both atomically; returns the sidecar.

    ``base_ref`` (4D models only): keep the frozen base out of the file and
    record its checkpoint id and sha256 instead.
    """
    if getattr(model, "cfg", None) != config:
        raise ValueError("config does not match model.cfg")
    path = Path(path)
    kind = config_kind(config)
    if base_ref is not None:
        if kind != "fourd":
            raise ValueError(f"base_ref: only a 4D model references a base, not a {kind!r}")
        base_ref = _check_base_ref(base_ref)
    tensors = saved_tensors(model, base_ref)
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
    if base_ref is not None:
        sidecar["base"] = base_ref
    side = sidecar_path(path)
    atomic_write_text(side, json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return side


def read_sidecar(path: str | os.PathLike) -> dict:
    """The JSON sidecar of checkpoint ``path``, format checked."""
    side = sidecar_path(path)
    if not side.exists():
        raise FileNotFoundError(f"no sidecar {side}: checkpoint incomplete or not ours")
    meta = json.loads(side.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"format {meta.get('format')} is not {FORMAT_VERSION}")
    return meta


def _read_tensors(path: Path, device, prefix: str = "") -> dict[str, torch.Tensor]:
    # one fresh (aligned) allocation per tensor keeps outputs bitwise equal to the saved model
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        return {prefix + k: f.get_tensor(k).clone() for k in f.keys()}  # noqa: SIM118


def _base_tensors(config: FourDConfig, base_ref: dict, base_path, device) -> dict:
    """The referenced base's tensors, prefixed for the 4D model; its hash and config checked."""
    if base_path is None:
        raise ValueError(
            f"checkpoint references base checkpoint {base_ref['checkpoint_id']}: "
            "pass its file as base_path (the catalog resolves it)"
        )
    digest = sha256_file(base_path)
    if digest != base_ref["sha256"]:
        raise ValueError(
            f"base checkpoint {base_path} has sha256 {digest[:12]}, the sync layers were "
            f"trained on {base_ref['sha256'][:12]} (checkpoint {base_ref['checkpoint_id']})"
        )
    base_meta = read_sidecar(base_path)
    base_cfg = config_from_dict(base_meta["kind"], base_meta["config"])
    if dataclasses.replace(base_cfg, grad_checkpointing=False) != dataclasses.replace(
        config.base, grad_checkpointing=False
    ):
        raise ValueError(f"base checkpoint {base_path}: its config is not this model's base")
    return _read_tensors(Path(base_path), device, BASE_PREFIX)


def _fill_base(state: dict, base: dict, model_keys: set[str]) -> None:
    """Add the base's tensors the checkpoint lacks; a fine-tuned tensor in ``state`` wins.

    A LoRA-adapted linear (peft) keeps the original weight as ``<name>.base_layer.weight``.
    """
    for key, tensor in base.items():
        if key not in model_keys:
            head, _, leaf = key.rpartition(".")
            key = f"{head}.base_layer.{leaf}"
        state.setdefault(key, tensor)


def load_model(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    base_path: str | os.PathLike | None = None,
):
    """``(model, config, extra)`` from a checkpoint written by :func:`save_model`.

    ``base_path``: the base file a sync-only 4D checkpoint references (its
    sha256 must match the reference).
    """
    path = Path(path)
    meta = read_sidecar(path)
    config = config_from_dict(meta["kind"], meta["config"])
    with torch.device("meta"):  # no random init of weights about to be overwritten
        model = build_model(config)
    state = _read_tensors(path, device)
    if "base" in meta and config.finetune != "full":  # a full fine-tune holds its whole base
        base = _base_tensors(config, meta["base"], base_path, device)
        _fill_base(state, base, set(model.state_dict()))
    # assign=True adopts the loaded tensors and keeps each parameter's requires_grad
    model.load_state_dict(state, strict=True, assign=True)
    return model, config, meta["extra"]
