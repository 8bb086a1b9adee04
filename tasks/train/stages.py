"""From flow parameters to a checked plan, and from a plan to a trained checkpoint.

``prepare(params, catalog, run_id) -> StagePlan`` does every check before any
step runs (snapshots, sample files, resolution and V/T against the preset,
the parent checkpoint's stage, sha256 and file format) and fixes the phases.
``execute(plan, callbacks)`` builds the model and runs the engine in this
process; ``tasks.train.distributed`` runs the same ``execute`` on Ray Train
workers. A plan is plain picklable data.

Stages (docs/training.md):

* ``base``: DiT of the preset; phase ``low_res`` (half resolution, rounded
  down to the patch size) then ``full``; clips of both modes.
* ``sync``: the base of ``parent_checkpoint`` frozen inside a FourDModel;
  phase ``pseudo4d`` then ``objaverse``; only the sync layers train.
* ``upsampler``: Upsampler of the preset on clips at its output resolution.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from catalog.checkpoints import checkpoint_file, get_checkpoint
from catalog.store import Catalog
from fourreal.core.paths import data_root, relative_to_root
from model.checkpoint import load_model, sidecar_path
from model.config import (
    DiTConfig,
    FourDConfig,
    base_preset,
    upsampler_preset,
    validate_for_data,
)
from model.dit import DiT
from model.fourd import FourDModel
from model.upsampler import Upsampler
from tasks.train.callbacks import (
    Callback,
    CatalogCheckpoints,
    CatalogMetrics,
    TensorBoardLogger,
)
from tasks.train.checkpointing import check_safetensors
from tasks.train.data import (
    CLIP_KIND,
    GRID_KINDS,
    ItemSpec,
    Snapshot,
    StreamDataset,
    check_fits,
    resolve_snapshot,
)
from tasks.train.engine import Engine, EngineConfig, Phase
from tasks.train.params import TrainBaseParams, TrainSyncParams, TrainUpsamplerParams

CLIP_KINDS = (CLIP_KIND, *GRID_KINDS)


@dataclass
class PhasePlan:
    name: str
    steps: int
    snapshot: Snapshot
    spec: ItemSpec


@dataclass
class StagePlan:
    """Everything ``execute`` needs; checked, picklable, no open handles."""

    stage: str
    params: dict
    engine: EngineConfig
    model_config: object
    phases: list[PhasePlan]
    run_dir: str
    run_id: str
    catalog_dir: str
    parent_checkpoint_id: str | None = None
    parent_path: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def dataset_ids(self) -> list[str]:
        return list(dict.fromkeys(p.snapshot.dataset_id for p in self.phases))


def stage_of(params) -> str:
    for stage, cls in (("base", TrainBaseParams), ("sync", TrainSyncParams),
                       ("upsampler", TrainUpsamplerParams)):  # fmt: skip
        if isinstance(params, cls):
            return stage
    raise ValueError(f"params: {type(params).__name__} is not a training parameter model")


def engine_config(stage: str, p) -> EngineConfig:
    return EngineConfig(
        stage=stage, batch_size=p.batch_size, grad_accum=p.grad_accum, lr=p.lr,
        weight_decay=p.weight_decay, warmup_steps=p.warmup_steps, grad_clip=p.grad_clip,
        ema_decay=p.ema_decay, precision=p.precision, compile=p.compile, seed=p.seed,
        loader_workers=p.loader_workers, checkpoint_every=p.checkpoint_every,
        keep_last=p.keep_last, log_every=p.log_every,
    )  # fmt: skip


def half_resolution(cfg: DiTConfig) -> tuple[int, int]:
    """Progressive resolution's first phase: half of each side, down to a patch multiple."""
    p = cfg.patch_size
    h, w = (cfg.height // 2) // p * p, (cfg.width // 2) // p * p
    if not h or not w:
        raise ValueError(
            f"low_res_steps: half of {cfg.height}x{cfg.width} is below the patch size {p}"
        )
    return h, w


def load_parent(catalog: Catalog, ref: str, preset: str) -> tuple[dict, Path, DiTConfig]:
    """The base checkpoint row, its file (checked safetensors) and its config."""
    row = get_checkpoint(catalog, ref, stage="base", verify=True)  # stage + sha256
    path = checkpoint_file(row)
    check_safetensors(path, "parent_checkpoint")
    side = sidecar_path(path)
    if not side.exists():
        raise ValueError(f"parent_checkpoint: sidecar {side} is missing")
    import json

    meta = json.loads(side.read_text())
    if meta.get("kind") != "dit":
        raise ValueError(
            f"parent_checkpoint: {path} holds a {meta.get('kind')!r} model, not a base DiT"
        )
    cfg = DiTConfig(**meta["config"])
    want = base_preset(preset)
    if dataclasses.replace(cfg, grad_checkpointing=False) != dataclasses.replace(
        want, grad_checkpointing=False
    ):
        raise ValueError(f"parent_checkpoint: its base config is not preset {preset!r}: {cfg}")
    return row, path, cfg


def prepare(params, catalog: Catalog, run_id: str) -> StagePlan:
    """Check everything and fix the phases; ``ValueError`` naming the field otherwise."""
    stage = stage_of(params)
    engine = engine_config(stage, params)
    gc = params.grad_checkpointing
    parent_row = parent_path = None
    phases: list[PhasePlan] = []
    if stage == "base":
        cfg = base_preset(params.preset, grad_checkpointing=gc)
        snap = resolve_snapshot(catalog, params.dataset, kinds=CLIP_KINDS, field="dataset")
        full = ItemSpec(stage="base", height=cfg.height, width=cfg.width, frames=params.frames,
                        seed=params.seed)  # fmt: skip
        check_fits(snap, full, max_frames=cfg.max_frames, field="dataset")
        if params.low_res_steps:
            h, w = half_resolution(cfg)
            low = dataclasses.replace(full, height=h, width=w)
            phases.append(PhasePlan("low_res", params.low_res_steps, snap, low))
        phases.append(PhasePlan("full", params.steps, snap, full))
    elif stage == "sync":
        parent_row, parent_path, base_cfg = load_parent(
            catalog, params.parent_checkpoint, params.preset
        )
        cfg = FourDConfig(
            base=dataclasses.replace(base_cfg, grad_checkpointing=gc), sync=params.sync
        )
        for name, kind in (("pseudo4d", "grid_pseudo4d"), ("objaverse", "grid_objaverse")):
            ref = getattr(params, f"{name}_dataset")
            if not ref:
                continue
            field_name = f"{name}_dataset"
            snap = resolve_snapshot(catalog, ref, kinds=(kind,), field=field_name)
            spec = ItemSpec(stage="sync", height=base_cfg.height, width=base_cfg.width,
                            seed=params.seed, grid_condition_prob=params.grid_condition_prob)  # fmt: skip
            check_fits(snap, spec, max_frames=base_cfg.max_frames, field=field_name)
            first = snap.samples[0]
            try:
                validate_for_data(cfg, first.v, first.t, spec.height, spec.width)
            except ValueError as e:
                raise ValueError(f"{field_name}: {e}") from None
            phases.append(PhasePlan(name, getattr(params, f"{name}_steps"), snap, spec))
    else:
        cfg = upsampler_preset(params.preset, grad_checkpointing=gc)
        snap = resolve_snapshot(catalog, params.dataset, kinds=CLIP_KINDS, field="dataset")
        spec = ItemSpec(stage="upsampler", height=cfg.height, width=cfg.width,
                        frames=params.frames, seed=params.seed)  # fmt: skip
        check_fits(snap, spec, max_frames=cfg.max_frames, field="dataset")
        phases.append(PhasePlan("full", params.steps, snap, spec))

    run_dir = data_root() / "runs" / "train" / stage / params.derived_run_name(stage)
    parent_id = parent_row["checkpoint_id"] if parent_row else None
    meta = {
        "run_id": run_id,
        "preset": params.preset,
        "parent_checkpoint_id": parent_id,
        "dataset_ids": list(dict.fromkeys(p.snapshot.dataset_id for p in phases)),
        "phases": [
            {
                "name": p.name,
                "steps": p.steps,
                "dataset_id": p.snapshot.dataset_id,
                "height": p.spec.height,
                "width": p.spec.width,
            }
            for p in phases
        ],  # fmt: skip
        "params": params.model_dump(mode="json"),
    }
    return StagePlan(
        stage=stage, params=params.model_dump(mode="json"), engine=engine, model_config=cfg,
        phases=phases, run_dir=str(run_dir), run_id=run_id, catalog_dir=str(catalog.dir),
        parent_checkpoint_id=parent_id, parent_path=str(parent_path) if parent_path else None,
        meta=meta,
    )  # fmt: skip


def build_stage_model(plan: StagePlan) -> torch.nn.Module:
    """A fresh model (base, upsampler) or the frozen parent + new sync layers, seeded."""
    torch.manual_seed(plan.engine.seed)
    cfg = plan.model_config
    if plan.stage == "base":
        return DiT(cfg)
    if plan.stage == "upsampler":
        return Upsampler(cfg)
    base, _, _ = load_model(plan.parent_path)
    base.cfg = cfg.base  # same weights; only grad_checkpointing may differ
    return FourDModel(base, cfg)


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA device is available")
    return name


def default_callbacks(plan: StagePlan) -> list[Callback]:
    """TensorBoard, catalog metrics and checkpoint rows (what every rank-0 process writes)."""
    catalog = Catalog(plan.catalog_dir)
    return [
        TensorBoardLogger(Path(plan.run_dir) / "tensorboard", prefix=plan.stage),
        CatalogMetrics(catalog, plan.run_id, plan.stage),
        CatalogCheckpoints(
            catalog,
            stage=plan.stage,
            run_id=plan.run_id,
            parent_checkpoint_id=plan.parent_checkpoint_id,
        ),  # fmt: skip
    ]


def execute(
    plan: StagePlan,
    extra_callbacks: list[Callback] = (),
    device: str | None = None,
    resume: bool | None = None,
    record_stream: list[int] | None = None,
) -> dict:
    """Build the model and train it through every phase; returns the engine's summary."""
    device = device or resolve_device(plan.params.get("device", "auto"))
    threads = os.environ.get("FOURREAL_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    model = build_stage_model(plan)
    phases = [
        Phase(p.name, p.steps, StreamDataset(p.snapshot.samples, p.spec), p.snapshot.dataset_id)
        for p in plan.phases
    ]
    engine = Engine(
        plan.engine, model, phases, Path(plan.run_dir), meta=plan.meta,
        callbacks=[*default_callbacks(plan), *extra_callbacks], device=device,
        resume=plan.params.get("resume", True) if resume is None else resume,
        record_stream=record_stream,
    )  # fmt: skip
    summary = engine.fit()
    summary.update(
        run_id=plan.run_id,
        dataset_ids=plan.dataset_ids,
        parent_checkpoint_id=plan.parent_checkpoint_id,
        checkpoint_ids=[r["checkpoint_id"] for r in summary["checkpoints"]],
    )
    summary["checkpoints"] = [
        {k: r[k] for k in ("checkpoint_id", "step", "path", "sha256")}
        for r in summary["checkpoints"]
    ]
    if summary["final_checkpoint_id"] is None and summary["final_checkpoint"]:
        # resumed a run that had already finished: its last checkpoint is the result
        row = get_checkpoint(
            Catalog(plan.catalog_dir),
            relative_to_root(summary["final_checkpoint"]),
            stage=plan.stage,
        )
        summary["final_checkpoint_id"] = row["checkpoint_id"]
    return summary
