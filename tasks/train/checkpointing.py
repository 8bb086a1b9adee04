"""Training checkpoints: everything a run needs to resume, without a single pickle.

One checkpoint is one folder ``<run>/checkpoints/step_00000100/``::

    model.safetensors + model.json    the weights + sidecar (model.checkpoint.save_model):
                                      kind, config, sha256, extra (step, dataset ids,
                                      parent checkpoint, run id, metrics); a sync
                                      checkpoint holds only the sync layers and a
                                      reference (id + sha256) to its frozen base
    ema.safetensors + ema.json        EMA weights, same format (load_checkpoint(ema=True))
    optimizer.safetensors             AdamW moments, one tensor per (param, slot)
    rng.safetensors                   torch / numpy generator states as tensors
    state.json                        step, phase, data position, optimizer scalars and
                                      param groups, python RNG state, engine config

The folder is assembled under a ``.tmp-`` name and renamed into place, so a
folder named ``step_*`` is always complete. ``keep_latest`` prunes older
folders. The ``checkpoints`` catalog row points at ``model.safetensors``.
Every tensor file is checked to be safetensors before it is read.
``tasks.checkpoint_loading.load_checkpoint(catalog, ref)`` loads any stage's
model by catalog id or path, resolving a sync checkpoint's base through the catalog.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from core.io import TMP_PREFIX, atomic_path, atomic_write_text
from model.checkpoint import read_sidecar, save_model
from tasks.checkpoint_loading import EMA_FILE, MODEL_FILE, load_tensors

OPTIM_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
STATE_FILE = "state.json"
STEP_DIR = re.compile(r"^step_(\d{8})$")


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


# ---------------------------------------------------------------- optimizer
def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``opt.state_dict()`` into tensors (safetensors) and JSON-able scalars."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for idx, slots in sd["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
        for g in sd["param_groups"]
    ]
    return tensors, {"scalars": scalars, "param_groups": groups}


def load_optimizer_state(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, slots in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(slots)
    groups = [
        {k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]
    ]
    opt.load_state_dict({"state": state, "param_groups": groups})


# ---------------------------------------------------------------- RNG
def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """Global generator states: torch (CPU, CUDA) and numpy as tensors, python's as JSON."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda{i}"] = s
    name, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss = random.getstate()
    meta = {
        "numpy": {"name": name, "pos": int(pos), "has_gauss": int(has_gauss), "cached": cached},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    n = meta["numpy"]
    keys = tensors["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached"]))
    p = meta["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


# ---------------------------------------------------------------- save / load
def save_checkpoint(
    run_dir: Path,
    *,
    step: int,
    model: nn.Module,
    config,
    ema_tensors: dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer | None,
    state: dict,
    extra: dict,
    base_ref: dict | None = None,
) -> Path:
    """Write the checkpoint folder for ``step`` atomically; returns its ``model.safetensors``.

    ``base_ref`` (sync stage): model and EMA files hold the sync layers only.
    """
    ckpt_root = run_dir / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / step_dir_name(step)
    tmp = ckpt_root / f"{TMP_PREFIX}{final.name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        save_model(tmp / MODEL_FILE, model, config, extra, base_ref)
        if ema_tensors is not None:
            with swapped_weights(model, ema_tensors):
                save_model(tmp / EMA_FILE, model, config, {**extra, "ema": True}, base_ref)
        opt_meta = None
        if optimizer is not None:
            opt_tensors, opt_meta = optimizer_state(optimizer)
            _save(tmp / OPTIM_FILE, opt_tensors)
        rng_tensors, rng_meta = rng_state()
        _save(tmp / RNG_FILE, rng_tensors)
        full = {**state, "step": step, "optimizer": opt_meta, "rng": rng_meta, "extra": extra}
        atomic_write_text(tmp / STATE_FILE, json.dumps(full, indent=1, sort_keys=True) + "\n")
        if final.exists():  # a re-run of the same step (e.g. after a crash past the rename)
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / MODEL_FILE


def _save(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    with atomic_path(path, suffix=".safetensors") as t:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(t))


class swapped_weights:  # noqa: N801 (used as a context manager)
    """Temporarily copy ``tensors`` (a subset of the state dict) into ``model``."""

    def __init__(self, model: nn.Module, tensors: dict[str, torch.Tensor]):
        self.model, self.tensors = model, tensors

    def __enter__(self):
        params = dict(self.model.named_parameters())
        self.saved = {k: params[k].detach().clone() for k in self.tensors}
        with torch.no_grad():
            for k, v in self.tensors.items():
                params[k].copy_(v)
        return self.model

    def __exit__(self, *exc):
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for k, v in self.saved.items():
                params[k].copy_(v)
        return False


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and STEP_DIR.match(p.name)]
    return sorted(found, key=lambda p: int(STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def keep_latest(run_dir: Path, k: int, keep_step: int | None = None) -> list[Path]:
    """Delete all but the newest ``k`` checkpoint folders (and stale temporaries);
    ``keep_step`` (the best checkpoint by validation loss) is kept too."""
    removed = []
    for p in list_checkpoints(run_dir)[:-k] if k > 0 else []:
        if keep_step is not None and p.name == step_dir_name(keep_step):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    root = run_dir / "checkpoints"
    if root.is_dir():
        for p in root.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(p, ignore_errors=True)
    return removed


def load_checkpoint_state(ckpt: Path) -> dict:
    """Everything a resume needs from a checkpoint folder, tensor files checked and loaded.

    ``base_referenced``: the model tensors leave out the frozen base.
    """
    state = json.loads((ckpt / STATE_FILE).read_text())
    state["base_referenced"] = "base" in read_sidecar(ckpt / MODEL_FILE)
    state["model_tensors"] = load_tensors(ckpt / MODEL_FILE, "resume")
    state["ema_tensors"] = (
        load_tensors(ckpt / EMA_FILE, "resume") if (ckpt / EMA_FILE).exists() else None
    )
    state["optimizer_tensors"] = (
        load_tensors(ckpt / OPTIM_FILE, "resume") if (ckpt / OPTIM_FILE).exists() else {}
    )
    state["rng_tensors"] = load_tensors(ckpt / RNG_FILE, "resume")
    return state
