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

Activation checkpointing (``grad_checkpointing="auto"``) is chosen here from
a traced estimate of the step's peak memory (``model.memory``): the least
recomputation that fits an 80 GB GPU. At the ``paper`` preset the sync stage
needs it (two streams of 36,864 tokens through 26 frozen blocks).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from catalog.checkpoints import checkpoint_file, get_checkpoint
from catalog.datasets import get_dataset
from catalog.store import Catalog
from core.paths import data_root, relative_to_root
from model.checkpoint import load_model, sidecar_path
from model.config import (
    DiTConfig,
    FourDConfig,
    UpsamplerConfig,
    base_preset,
    checkpointing_mode,
    config_from_dict,
    upsampler_preset,
    validate_for_data,
)
from model.dit import DiT
from model.fourd import build_fourd
from model.memory import GIB
from model.upsampler import Upsampler
from tasks.checkpoint_loading import check_safetensors
from tasks.train.callbacks import (
    Callback,
    CatalogCheckpoints,
    CatalogMetrics,
    PrintMessages,
    TensorBoardLogger,
)
from tasks.train.data import (
    CLIP_KIND,
    GRID_KINDS,
    ItemSpec,
    Snapshot,
    StreamDataset,
    check_fits,
    resolve_snapshot,
)
from tasks.train.engine import Engine, EngineConfig, Phase, estimate_step_memory, example_batch
from tasks.train.params import STAGE_PARAMS
from tasks.train.validation import ValidationConfig, Validator, ValSet

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
    base_ref: dict | None = None
    """sync: the frozen base's checkpoint id and sha256, recorded in every checkpoint."""
    meta: dict = field(default_factory=dict)
    validation: list[PhasePlan] = field(default_factory=list)
    """Held-out sets the validator reads (each with the spec of the phase it validates)."""
    validation_note: str = ""
    """Why there is no validation, when there is none."""

    @property
    def dataset_ids(self) -> list[str]:
        return list(dict.fromkeys(p.snapshot.dataset_id for p in self.phases))


def stage_of(params) -> str:
    for stage, cls in STAGE_PARAMS.items():
        if isinstance(params, cls):
            return stage
    raise ValueError(f"params: {type(params).__name__} is not a training parameter model")


def half_resolution(cfg: DiTConfig) -> tuple[int, int]:
    """Progressive resolution's first phase: half of each side, down to a patch multiple."""
    p = cfg.patch_size
    h, w = (cfg.height // 2) // p * p, (cfg.width // 2) // p * p
    if not h or not w:
        raise ValueError(
            f"low_res_steps: half of {cfg.height}x{cfg.width} is below the patch size {p}"
        )
    return h, w


def _same_base(a: DiTConfig, b: DiTConfig) -> bool:
    """Equal but for activation checkpointing (which changes memory, not the model) and the
    head's parametrisation (a base saved as a velocity model stays one: the 4D model takes
    the parent's config)."""
    off = {"grad_checkpointing": False, "prediction": "x0"}
    return dataclasses.replace(a, **off) == dataclasses.replace(b, **off)


def load_parent(catalog: Catalog, ref: str, preset: str) -> tuple[dict, Path, DiTConfig]:
    """The base checkpoint row, its file (checked safetensors) and its config."""
    row = get_checkpoint(catalog, ref, stage="base", verify=True)  # stage + sha256
    path = checkpoint_file(row)
    check_safetensors(path, "parent_checkpoint")
    side = sidecar_path(path)
    if not side.exists():
        raise ValueError(f"parent_checkpoint: sidecar {side} is missing")
    meta = json.loads(side.read_text())
    if meta.get("kind") != "dit":
        raise ValueError(
            f"parent_checkpoint: {path} holds a {meta.get('kind')!r} model, not a base DiT"
        )
    cfg = config_from_dict("dit", meta["config"])
    if not _same_base(cfg, base_preset(preset)):
        raise ValueError(f"parent_checkpoint: its base config is not preset {preset!r}: {cfg}")
    return row, path, cfg


# ---------------------------------------------------------------- activation checkpointing
# The paper preset must fit one 80 GB GPU: leave room for the CUDA context, the
# caching allocator's fragmentation and NCCL buffers.
MEMORY_BUDGET_BYTES = 72 * GIB


def with_checkpointing(cfg, mode: bool | str):
    """``cfg`` (base, 4D or upsampler config) with activation checkpointing ``mode``."""
    if isinstance(cfg, FourDConfig):
        return dataclasses.replace(cfg, base=dataclasses.replace(cfg.base, grad_checkpointing=mode))
    return dataclasses.replace(cfg, grad_checkpointing=mode)


def target_device(params) -> str:
    """Where the run will train (for planning: bf16 and the memory budget apply on CUDA)."""
    if params.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return params.device


def choose_checkpointing(
    params, engine: EngineConfig, cfg, phase: PhasePlan, budget: int = MEMORY_BUDGET_BYTES
) -> bool | str:
    """The requested mode, or (``auto``) the least recomputation whose traced peak fits ``budget``.

    Off, then selective (keep matmul and attention outputs, recompute the
    pointwise ops), then full. The trace runs on fake CPU tensors with the
    precision the target device will use.
    """
    if params.grad_checkpointing != "auto":
        return checkpointing_mode(params.grad_checkpointing)
    device = torch.device(target_device(params))
    precision = "bf16" if engine.uses_bf16(device) else "fp32"
    traced = engine.model_copy(update={"precision": precision})
    batch = example_batch(StreamDataset(phase.snapshot.samples, phase.spec), engine.batch_size)
    return least_checkpointing(traced, cfg, batch, budget, device.type)


def least_checkpointing(
    engine: EngineConfig, cfg, batch: dict, budget: int, target: str = "cpu"
) -> bool | str:
    """Off, selective or full: the first whose traced peak for ``batch`` fits ``budget``."""
    for mode in (False, "selective"):
        config = with_checkpointing(cfg, mode)
        report = estimate_step_memory(engine, config, batch, "cpu", target=target)
        if report.peak_bytes <= budget:
            return mode
    return True


# ---------------------------------------------------------------- plans
def _base_phases(params, catalog: Catalog, cfg: DiTConfig) -> list[PhasePlan]:
    snap = resolve_snapshot(catalog, params.dataset, kinds=CLIP_KINDS, field="dataset")
    full = ItemSpec(
        stage="base",
        height=cfg.height,
        width=cfg.width,
        frames=params.frames,
        seed=params.seed,
        base_masks=params.base_masks.pairs(),
    )
    check_fits(snap, full, max_frames=cfg.max_frames, field="dataset")
    phases = []
    if params.low_res_steps:
        h, w = half_resolution(cfg)
        low = dataclasses.replace(full, height=h, width=w)
        phases.append(PhasePlan("low_res", params.low_res_steps, snap, low))
    phases.append(PhasePlan("full", params.steps, snap, full))
    return phases


def _sync_phases(params, catalog: Catalog, cfg: FourDConfig) -> list[PhasePlan]:
    base, phases = cfg.base, []
    for name, kind in (("pseudo4d", "grid_pseudo4d"), ("objaverse", "grid_objaverse")):
        ref = getattr(params, f"{name}_dataset")
        if not ref:
            continue
        field_name = f"{name}_dataset"
        snap = resolve_snapshot(catalog, ref, kinds=(kind,), field=field_name)
        spec = ItemSpec(
            stage="sync",
            height=base.height,
            width=base.width,
            seed=params.seed,
            grid_masks=params.grid_masks.pairs(),
        )
        check_fits(snap, spec, max_frames=base.max_frames, field=field_name)
        first = snap.samples[0]
        try:
            validate_for_data(cfg, first.v, first.t, spec.height, spec.width)
        except ValueError as e:
            raise ValueError(f"{field_name}: {e}") from None
        phases.append(PhasePlan(name, getattr(params, f"{name}_steps"), snap, spec))
    return phases


def _upsampler_phases(params, catalog: Catalog, cfg: UpsamplerConfig) -> list[PhasePlan]:
    snap = resolve_snapshot(catalog, params.dataset, kinds=CLIP_KINDS, field="dataset")
    spec = ItemSpec(
        stage="upsampler",
        height=cfg.height,
        width=cfg.width,
        frames=params.frames,
        seed=params.seed,
    )
    check_fits(snap, spec, max_frames=cfg.max_frames, field="dataset")
    return [PhasePlan("full", params.steps, snap, spec)]


# ---------------------------------------------------------------- validation
def _phase_kinds(stage: str, phase: PhasePlan) -> tuple[str, ...]:
    return tuple({s.kind for s in phase.snapshot.samples}) if stage == "sync" else CLIP_KINDS


def _validation_set(catalog, stage, cfg, ref: str, phase: PhasePlan, field: str) -> PhasePlan:
    """A checked held-out snapshot, read with the spec of the phase it validates."""
    kinds = GRID_KINDS if stage == "sync" and field == "val_dataset" else _phase_kinds(stage, phase)
    snap = resolve_snapshot(catalog, ref, kinds=kinds, field=field)
    base = cfg.base if stage == "sync" else cfg
    check_fits(snap, phase.spec, max_frames=base.max_frames, field=field)
    if stage == "sync":
        first = snap.samples[0]
        try:
            validate_for_data(cfg, first.v, first.t, phase.spec.height, phase.spec.width)
        except ValueError as e:
            raise ValueError(f"{field}: {e}") from None
    return PhasePlan(phase.name, 0, snap, phase.spec)


def plan_validation(params, catalog, stage, cfg, phases) -> tuple[list[PhasePlan], str]:
    """The validation sets: ``val_dataset``, else the held-out part of each training snapshot.

    A validation set never shares a sample with the training snapshots. Without one,
    the note says why there is no validation.
    """
    if not params.eval_every:
        return [], "off (eval_every = 0)"
    trained = {s.sample_id for p in phases for s in p.snapshot.samples}
    last = {p.snapshot.dataset_id: p for p in phases}  # base: the full-resolution phase
    if params.val_dataset:
        sets = [_validation_set(catalog, stage, cfg, params.val_dataset, phases[-1], "val_dataset")]
    else:
        sets = []
        for dataset_id, phase in last.items():
            if get_dataset(catalog, dataset_id).get("heldout_fraction"):
                ref, field = f"{dataset_id}:heldout", f"{phase.name} held-out part"
                sets.append(_validation_set(catalog, stage, cfg, ref, phase, field))
    for vs in sets:
        if shared := trained & {s.sample_id for s in vs.snapshot.samples}:
            raise ValueError(
                f"val_dataset: {len(shared)} of its samples are in the training snapshots"
            )
    if not sets:
        return [], (
            "off: the training snapshots have no held-out part (fourreal dataset create "
            "--heldout-fraction) and no val_dataset is given"
        )
    return sets, ""


def _plan_meta(params, run_id: str, parent_id: str | None, phases: list[PhasePlan]) -> dict:
    """What every checkpoint's sidecar and catalog row carry about the run."""
    return {
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
        ],
        "params": params.model_dump(mode="json"),
    }


def prepare(params, catalog: Catalog, run_id: str) -> StagePlan:
    """Check everything and fix the phases; ``ValueError`` naming the field otherwise."""
    stage = stage_of(params)
    engine = EngineConfig.of(stage, params)
    parent_row = parent_path = None
    if stage == "base":
        cfg = base_preset(params.preset)
        phases = _base_phases(params, catalog, cfg)
    elif stage == "sync":
        parent_row, parent_path, base_cfg = load_parent(
            catalog, params.parent_checkpoint, params.preset
        )
        cfg = FourDConfig(
            base=base_cfg,
            sync=params.sync,
            finetune="" if params.finetune == "auto" else params.finetune,
            lora_rank=params.lora_rank,
        )
        phases = _sync_phases(params, catalog, cfg)
    else:
        cfg = upsampler_preset(params.preset)
        phases = _upsampler_phases(params, catalog, cfg)
    largest = max(phases, key=lambda p: p.spec.height * p.spec.width)
    cfg = with_checkpointing(cfg, choose_checkpointing(params, engine, cfg, largest))

    validation, note = plan_validation(params, catalog, stage, cfg, phases)
    run_dir = data_root() / "runs" / "train" / stage / params.derived_run_name(stage)
    parent_id = parent_row["checkpoint_id"] if parent_row else None
    base_ref = {"checkpoint_id": parent_id, "sha256": parent_row["sha256"]} if parent_row else None
    return StagePlan(
        stage=stage,
        params=params.model_dump(mode="json"),
        engine=engine,
        model_config=cfg,
        phases=phases,
        run_dir=str(run_dir),
        run_id=run_id,
        catalog_dir=str(catalog.dir),
        parent_checkpoint_id=parent_id,
        parent_path=str(parent_path) if parent_path else None,
        base_ref=base_ref,
        meta=_plan_meta(params, run_id, parent_id, phases),
        validation=validation,
        validation_note=note,
    )


def build_stage_model(plan: StagePlan) -> torch.nn.Module:
    """A fresh model (base, upsampler) or the frozen parent + new sync layers, seeded."""
    torch.manual_seed(plan.engine.seed)
    cfg = plan.model_config
    if plan.stage == "base":
        return DiT(cfg)
    if plan.stage == "upsampler":
        return Upsampler(cfg)
    base, _, _ = load_model(plan.parent_path)
    base.set_checkpointing(cfg.base.grad_checkpointing)  # the parent's weights, this run's memory
    return build_fourd(cfg, base)


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA device is available")
    return name


def default_callbacks(plan: StagePlan) -> list[Callback]:
    """Messages on stdout, TensorBoard, catalog metrics and checkpoint rows (rank 0's sinks)."""
    catalog = Catalog(plan.catalog_dir)
    return [
        PrintMessages(),
        TensorBoardLogger(Path(plan.run_dir) / "tensorboard", prefix=plan.stage),
        CatalogMetrics(catalog, plan.run_id, plan.stage),
        CatalogCheckpoints(
            catalog,
            stage=plan.stage,
            run_id=plan.run_id,
            parent_checkpoint_id=plan.parent_checkpoint_id,
        ),
    ]


def make_engine(
    plan: StagePlan,
    callbacks: list[Callback] = (),
    device: str | None = None,
    resume: bool | None = None,
    record_stream: list[int] | None = None,
) -> Engine:
    """The plan's model and phases in an :class:`Engine` (``callbacks``: all of them)."""
    device = device or resolve_device(plan.params.get("device", "auto"))
    threads = os.environ.get("FOURREAL_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    phases = [
        Phase(p.name, p.steps, StreamDataset(p.snapshot.samples, p.spec), p.snapshot.dataset_id)
        for p in plan.phases
    ]
    return Engine(
        plan.engine,
        build_stage_model(plan),
        phases,
        Path(plan.run_dir),
        meta=plan.meta,
        callbacks=list(callbacks),
        device=device,
        resume=plan.params.get("resume", True) if resume is None else resume,
        record_stream=record_stream,
        base_ref=plan.base_ref,
        validator=build_validator(plan, device, callbacks),
    )


def build_validator(
    plan: StagePlan, device: str, callbacks: list[Callback] = ()
) -> Validator | None:
    """The plan's validation sets in a :class:`Validator`; None, with a note to the
    callbacks' ``on_message``, if the plan has none."""
    if not plan.validation:
        for cb in callbacks:
            cb.on_message(f"[train {plan.stage}] validation {plan.validation_note}")
        return None
    p = plan.params
    cfg = ValidationConfig(
        eval_every=p.get("eval_every", 0),
        items=p.get("val_items", 8),
        sample_every=p.get("sample_every", 0),
        sample_items=p.get("sample_items", 2),
        sample_steps=p.get("sample_steps", 8),
        seed=plan.engine.seed,
    )
    sets = [ValSet(v.name, StreamDataset(v.snapshot.samples, v.spec)) for v in plan.validation]
    return Validator(plan.engine, sets, cfg, device)


def execute(
    plan: StagePlan,
    extra_callbacks: list[Callback] = (),
    device: str | None = None,
    resume: bool | None = None,
    record_stream: list[int] | None = None,
) -> dict:
    """Build the model and train it through every phase; returns the engine's summary."""
    callbacks = [*default_callbacks(plan), *extra_callbacks]
    engine = make_engine(plan, callbacks, device, resume, record_stream)
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
