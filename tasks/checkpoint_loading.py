"""Loading a trained model by catalog reference: what generation, evaluation and training share.

A checkpoint folder (written by ``tasks.train.checkpointing``) holds
``model.safetensors`` (+ sidecar) and, when trained with EMA,
``ema.safetensors`` beside it. Here a checkpoint is found by catalog id or
path, every tensor file is checked to be safetensors before it is read (no
pickle), its sha256 is checked against the catalog, and a sync checkpoint's
frozen base is resolved through the catalog and hash-checked.

``load_sync_checkpoint`` / ``load_upsampler_checkpoint`` add what sampling
needs: the EMA weights by default (checked against their own sidecar), the
raw ones with a warning when a checkpoint has none, and the model's kind.
Torch is imported only when a model is loaded.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from catalog.checkpoints import checkpoint_file, get_checkpoint
from catalog.store import Catalog
from core.io import sha256_file

MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
MAX_HEADER = 100 * 1024 * 1024


def check_safetensors(path: str | os.PathLike, field: str = "checkpoint") -> None:
    """``ValueError`` unless ``path`` is a well-formed safetensors file (read without unpickling)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{field}: {path} is not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > MAX_HEADER or 8 + n > size:
            raise ValueError(f"{field}: {path} is not a safetensors file (bad header length)")
        header = f.read(n)
    try:
        meta = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{field}: {path} is not a safetensors file (header not JSON)") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{field}: {path} is not a safetensors file (header not an object)")


def load_tensors(path: str | os.PathLike, field: str = "checkpoint") -> dict:
    """Every tensor of a safetensors file (``{name: torch.Tensor}``), checked first."""
    from safetensors.torch import load_file

    check_safetensors(path, field)
    return load_file(str(path))


def load_checkpoint(
    catalog: Catalog,
    ref: str,
    stage: str | None = None,
    *,
    ema: bool = False,
    device="cpu",
):
    """``(model, config, row)`` of a catalog checkpoint (id or path), hash and stage checked.

    A sync checkpoint's base is found by the id it references and refused
    unless its catalog row and its file both have the referenced sha256.
    ``ema``: the EMA weights of the same folder instead of the raw ones.
    """
    from model.checkpoint import load_model, read_sidecar

    row = get_checkpoint(catalog, ref, stage=stage, verify=True)
    path = checkpoint_file(row)
    if ema:
        path = path.parent / EMA_FILE
        if not path.exists():
            raise ValueError(f"checkpoint: {ref!r} has no EMA weights ({path})")
    check_safetensors(path)
    base_path = None
    base_ref = read_sidecar(path).get("base")
    if base_ref is not None:
        base_row = get_checkpoint(catalog, base_ref["checkpoint_id"], stage="base", verify=False)
        if base_row["sha256"] != base_ref["sha256"]:
            raise ValueError(
                f"checkpoint: {ref!r} was trained on base {base_ref['checkpoint_id']} with "
                f"sha256 {base_ref['sha256'][:12]}, the catalog records {base_row['sha256'][:12]}"
            )
        base_path = checkpoint_file(base_row)
        check_safetensors(base_path, "base checkpoint")
    model, config, _ = load_model(path, device=device, base_path=base_path)  # re-hashes the base
    return model, config, row


# ---------------------------------------------------------------- for sampling
def ema_file(row: dict) -> Path:
    """Where a training checkpoint keeps its EMA weights (beside ``model.safetensors``)."""
    return checkpoint_file(row).parent / EMA_FILE


def _use_ema(catalog: Catalog, ref: str, stage: str, ema: bool, field: str):
    """``(use the EMA file?, warnings)``: yes when asked for and present.

    The EMA file is checked against the sha256 its own sidecar records (the
    catalog row hashes the raw weights only). A checkpoint saved without EMA
    (a hand-made or converted one) falls back to its raw weights, with a warning.
    """
    from model.checkpoint import sidecar_path

    if not ema:
        return False, []
    row = get_checkpoint(catalog, ref, stage=stage)
    path = ema_file(row)
    if not path.is_file():
        return False, [f"{field}: {row['checkpoint_id'][:12]} has no EMA weights "
                       f"({path.name}): using its raw weights"]  # fmt: skip
    side = sidecar_path(path)
    recorded = json.loads(side.read_text()).get("sha256") if side.is_file() else None
    if recorded != sha256_file(path):
        raise ValueError(
            f"{field}: EMA weights {path} do not match their sidecar (changed on disk)"
        )
    return True, []


def load_sync_checkpoint(catalog: Catalog, ref: str, ema: bool = True):
    """``(model, config, row)`` of a ``sync`` checkpoint given by catalog id or path.

    ``ema`` (default): the EMA weights saved beside the checkpoint. ``row`` gets
    ``weights`` ("ema" or "raw") and ``warnings``.
    """
    from model.config import FourDConfig

    use, warnings = _use_ema(catalog, ref, "sync", ema, "checkpoint")
    # a sync checkpoint holds the sync layers; its base is resolved (and hash-checked) here
    model, cfg, row = load_checkpoint(catalog, ref, stage="sync", ema=use)
    if not isinstance(cfg, FourDConfig):
        raise ValueError(f"checkpoint: {ref!r} holds a {type(cfg).__name__}, not a 4D model")
    row = {**row, "weights": "ema" if use else "raw", "warnings": warnings}
    return model.eval(), cfg, row


def load_upsampler_checkpoint(
    catalog: Catalog, ref: str, height: int, width: int, ema: bool = True
):
    """``(upsampler, config, row)``; ``ValueError`` if its low resolution is not ``height x width``."""
    from model.config import UpsamplerConfig

    use, warnings = _use_ema(catalog, ref, "upsampler", ema, "upsampler")
    model, cfg, row = load_checkpoint(catalog, ref, stage="upsampler", ema=use)
    if not isinstance(cfg, UpsamplerConfig):
        raise ValueError(f"upsampler: {ref!r} holds a {type(cfg).__name__}, not an upsampler")
    if (cfg.low_height, cfg.low_width) != (height, width):
        raise ValueError(
            f"upsampler: {ref!r} takes {cfg.low_height}x{cfg.low_width} frames, "
            f"the grid is {height}x{width}"
        )
    row = {**row, "weights": "ema" if use else "raw", "warnings": warnings}
    return model.eval(), cfg, row
