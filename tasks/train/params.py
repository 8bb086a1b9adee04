"""Typed parameters of the training flows: one pydantic model per flow.

The Prefect UI renders these as forms (descriptions, bounds, Literals); bad
values fail at construction with a message naming the field.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Literal

from pydantic import Field, model_validator

from core.flow_params import FlowParams, Preset, RayAddress, Seed
from model.config import SyncKind  # the 4D variants, from their registry (model.variants)
from model.masking import BASE_MASK_MIX, GRID_MASK_MIX, check_base_mask_mix, check_grid_mask_mix
from model.variants import get_variant, help_line

Finetune = Literal["auto", "full", "lora"]
SYNC_HELP = f"4D variant: {help_line()} (model.variants; docs/model.md#the-4d-variants)"
FINETUNE_HELP = (
    "How a variant that fine-tunes the base (fused) trains it: full | lora (peft adapters); "
    "auto = full for it, frozen for the sync variants"
)
Precision = Literal["auto", "fp32", "bf16"]
Checkpointing = Literal["auto", "off", "selective", "full"]
Device = Literal["auto", "cpu", "cuda"]
TimestepSampler = Literal["logit_normal", "uniform"]
LossWeighting = Literal["x0", "velocity"]
TIMESTEP_SHIFT_HELP = (
    "Training noise levels shifted like sampling's shift: > 1 trains more at high noise, "
    "where the known frames are all the model has"
)
LOSS_WEIGHTING_HELP = (
    "Per noise level: x0 = the clean frames' error (every level weighs the same in pixels) | "
    "velocity = the velocity's error (1/s^2 more near the data)"
)
RUN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# Settings that do not change the numbers a run produces (left out of the run name).
NOT_IN_RUN_NAME = {
    *("loader_workers", "checkpoint_every", "keep_last", "log_every", "resume", "run_name"),
    *("ray_address", "device", "grad_checkpointing", "compile"),
    # validation reads the model, never changes it: turning it on resumes the same run
    *("eval_every", "val_items", "val_dataset", "sample_every", "sample_items", "sample_steps"),
}


def check_finetune(p) -> None:
    """``finetune`` full / lora only for a variant that fine-tunes its base."""
    if p.finetune != "auto" and not get_variant(p.sync).finetunes_base:
        raise ValueError(f"finetune={p.finetune!r}: sync={p.sync!r} keeps its base frozen")


def check_sync_phases(p) -> None:
    """A dataset for every sync phase that has steps; some steps unless ``sequential``."""
    if not (p.pseudo4d_dataset or p.objaverse_dataset):
        raise ValueError("pseudo4d_dataset, objaverse_dataset: at least one is required")
    for name in ("pseudo4d", "objaverse"):
        if getattr(p, f"{name}_steps") > 0 and not getattr(p, f"{name}_dataset"):
            raise ValueError(f"{name}_dataset: required when {name}_steps > 0")
    if not (p.pseudo4d_steps or p.objaverse_steps) and p.sync != "sequential":
        raise ValueError("pseudo4d_steps, objaverse_steps: at least one must be > 0")


def _share(pattern: str, what: str):
    return Field(GRID_MASK_MIX[pattern], ge=0.0, le=1.0, description=what)


def _weight(strategy: str, what: str):
    return Field(BASE_MASK_MIX[strategy], ge=0.0, le=1.0, description=what)


class BaseMaskProportions(FlowParams):
    """Weight of each base masking strategy (model.masking), normalised at use.

    The defaults are the 4Real recipe as quoted (they sum to 1.05).
    """

    none: float = _weight("none", "Nothing known: unconditional video")
    random: float = _weight("random", "Each frame known with p = 1/16")
    interpolate: float = _weight("interpolate", "Every k-th frame known")
    extend: float = _weight("extend", "The first m frames known (image or video to video)")

    @model_validator(mode="after")
    def _some_weight(self):
        check_base_mask_mix(self.model_dump())
        return self

    def pairs(self) -> tuple[tuple[str, float], ...]:
        return tuple(self.model_dump().items())


class GridMaskProportions(FlowParams):
    """Share of each 4D training mask pattern (model.masking); the shares sum to 1."""

    row_and_column: float = _share(
        "row_and_column", "grid[0,:] and grid[:,0] known (the inference case)"
    )
    first_row: float = _share("first_row", "grid[0,:] known: the fixed-view video only")
    first_column: float = _share("first_column", "grid[:,0] known: the freeze-time video only")
    random_lines: float = _share("random_lines", "Random whole rows and/or columns known")
    single_frame: float = _share("single_frame", "One random frame known")
    unconditional: float = _share("unconditional", "Nothing known (for classifier-free guidance)")

    @model_validator(mode="after")
    def _sums_to_one(self):
        check_grid_mask_mix(self.model_dump())
        return self

    def pairs(self) -> tuple[tuple[str, float], ...]:
        return tuple(self.model_dump().items())


class EngineSettings(FlowParams):
    """Optimisation settings of every stage: fields of the training flows' parameters, and
    what the engine reads (``tasks.train.engine.EngineConfig`` adds the stage to them).

    Defaults, bounds and descriptions are stated here once.
    """

    batch_size: int = Field(2, ge=1, le=4096, description="Samples per micro-batch per worker")
    grad_accum: int = Field(
        1,
        ge=1,
        le=1024,
        description="Micro-batches per optimiser step "
        "(effective batch = batch_size x grad_accum x workers)",
    )
    lr: float = Field(1e-4, gt=0.0, le=1.0, description="Peak learning rate (AdamW)")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW weight decay")
    warmup_steps: int = Field(
        0, ge=0, le=1_000_000, description="Linear warmup steps before the cosine decay"
    )
    grad_clip: float = Field(1.0, ge=0.0, le=1e6, description="Max gradient norm (0 = off)")
    ema_decay: float = Field(
        0.999,
        ge=0.0,
        lt=1.0,
        description="EMA decay of the trained weights (warmed up as min(decay, (1+n)/(10+n)))",
    )
    timestep_sampler: TimestepSampler = Field(
        "logit_normal",
        description="Training noise levels: logit_normal (SD3: mostly mid noise) | uniform "
        "(as many near pure noise, where sampling starts: better for small, short runs)",
    )
    timestep_shift: float = Field(1.0, gt=0.0, le=100.0, description=TIMESTEP_SHIFT_HELP)
    loss_weighting: LossWeighting = Field("x0", description=LOSS_WEIGHTING_HELP)
    precision: Precision = Field("auto", description="auto = bf16 autocast on GPU, fp32 on CPU")
    compile: bool | None = Field(
        None, description="torch.compile the model; empty = on for CUDA, off on CPU"
    )
    seed: Seed = 0
    # 2: decoding the next batches overlaps the step on a GPU; tests and benches that want
    # no worker processes pass 0
    loader_workers: int = Field(2, ge=0, le=64, description="DataLoader processes per worker")
    checkpoint_every: int = Field(
        100,
        ge=1,
        le=10_000_000,
        description="Steps between checkpoints (the last step always writes one)",
    )
    keep_last: int = Field(
        3, ge=1, le=1000, description="Checkpoint folders kept on disk (catalog rows stay)"
    )
    log_every: int = Field(10, ge=1, le=1_000_000, description="Steps between logged metrics")


def same_field(model: type[FlowParams], name: str, description: str | None = None):
    """``model``'s field ``name`` (default, bounds, description) for another model to reuse:
    ``train_all``'s fields restate no default of the stages they are passed to."""
    field = copy.copy(model.model_fields[name])
    if description is not None:
        field.description = description
    return field


class TrainCommon(EngineSettings):
    """Settings every training stage shares (the engine's, then the run's)."""

    preset: Preset = Field(
        "tiny", description="Model size preset: tiny (CPU tests) | small | paper"
    )
    grad_checkpointing: Checkpointing = Field(
        "auto",
        description="Activation checkpointing: auto = the least recomputation whose "
        "estimated peak fits an 80 GB GPU (off, then selective, then full)",
    )
    workers: int = Field(
        1,
        ge=1,
        le=4096,
        description="Training workers (DDP ranks); more than 1, "
        "or a ray_address, runs Ray Train's TorchTrainer",
    )
    device: Device = Field("auto", description="auto = CUDA when available, else CPU")
    ray_address: RayAddress = None
    run_name: str | None = Field(
        None,
        pattern=RUN_NAME,
        description="Run folder under "
        "<data>/runs/train/<stage>/; empty = derived from the settings, "
        "so running the same settings again resumes",
    )
    resume: bool = Field(True, description="Continue from the run folder's latest checkpoint")
    eval_every: int = Field(
        100,
        ge=0,
        le=10_000_000,
        description="Steps between validation losses on held-out data (also at step 0, at "
        "every checkpoint and at the end; EMA weights); 0 = off",
    )
    val_items: int = Field(
        8, ge=1, le=4096, description="Held-out items in the validation loss (per dataset)"
    )
    val_dataset: str | None = Field(
        None,
        description="Validation snapshot (id or name, or NAME:heldout); empty = the held-out "
        "part of each training snapshot (fourreal dataset create --heldout-fraction), and no "
        "validation when it has none",
    )

    def derived_run_name(self, stage: str) -> str:
        if self.run_name:
            return self.run_name
        keep = {k: v for k, v in self.model_dump(mode="json").items() if k not in NOT_IN_RUN_NAME}
        digest = hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]
        return f"{stage}-{self.preset}-{digest}"


class TrainBaseParams(TrainCommon):
    """Stage 1: the base video model on clips of both modes, with random masking."""

    dataset: str = Field(
        ...,
        min_length=1,
        description="Dataset snapshot (id or name): clips "
        "and/or grids (sliced into freeze-time and fixed-view clips)",
    )
    steps: int = Field(1000, ge=1, le=10_000_000, description="Steps at the preset's resolution")
    low_res_steps: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="Steps first at half the "
        "resolution (progressive resolution: 36x64 then 72x128)",
    )
    frames: int = Field(8, ge=2, le=64, description="Frames per training clip")
    base_masks: BaseMaskProportions = Field(
        default_factory=BaseMaskProportions,
        description="Weights of the base masking strategies (the 4Real recipe by default)",
    )


class TrainSyncParams(TrainCommon):
    """Stage 2: synchronisation layers over the frozen base, pseudo-4D then Objaverse grids."""

    parent_checkpoint: str = Field(..., min_length=1, description="Base checkpoint (id or path)")
    sync: SyncKind = Field("soft", description=SYNC_HELP)
    finetune: Finetune = Field("auto", description=FINETUNE_HELP)
    lora_rank: int = Field(16, ge=1, le=1024, description="LoRA rank when finetune = lora")
    pseudo4d_dataset: str | None = Field(None, description="Phase 1 snapshot of pseudo-4D grids")
    pseudo4d_steps: int = Field(
        20000, ge=0, le=10_000_000, description="Phase 1 steps (paper: 20k)"
    )
    objaverse_dataset: str | None = Field(None, description="Phase 2 snapshot of Objaverse grids")
    objaverse_steps: int = Field(
        3000, ge=0, le=10_000_000, description="Phase 2 steps (paper: 3k; longer hurts real scenes)"
    )
    grid_masks: GridMaskProportions = Field(
        default_factory=GridMaskProportions,
        description="Proportions of the 4D training mask patterns (must sum to 1)",
    )
    sample_every: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="Steps between held-out grids generated and scored against ground truth "
        "and the trivial baselines (PSNR, SSIM); a multiple of eval_every; 0 = off",
    )
    sample_items: int = Field(2, ge=1, le=256, description="Held-out grids generated each time")
    sample_steps: int = Field(
        8, ge=1, le=1000, description="Euler steps of those generations (few: it is a probe)"
    )

    @model_validator(mode="after")
    def _phases(self):
        check_sync_phases(self)
        check_finetune(self)
        return self


class TrainUpsamplerParams(TrainCommon):
    """Stage 3: the upsampler on high-resolution clips with low-resolution conditions."""

    dataset: str = Field(
        ...,
        min_length=1,
        description="Dataset snapshot (id or name) of clips "
        "and/or grids at (at least) the upsampler's output resolution",
    )
    steps: int = Field(1000, ge=1, le=10_000_000, description="Training steps")
    frames: int = Field(8, ge=2, le=64, description="Frames per training clip")


# What train_all passes to each of its stages.
ALL_STAGES_SHARE = (
    "preset",
    "batch_size",
    "lr",
    "timestep_sampler",
    "timestep_shift",
    "loss_weighting",
    "precision",
    "seed",
    "workers",
)
ALL_STAGES_SHARE += ("loader_workers", "device", "ray_address", "checkpoint_every", "log_every")
ALL_STAGES_SHARE += ("eval_every", "val_items")


class TrainAllParams(FlowParams):
    """The three stages in a row: base -> sync (from that base) and upsampler."""

    preset: Preset = Field("tiny", description="Model size preset for all stages")
    clips_dataset: str = Field(..., min_length=1, description="Base snapshot (clips and/or grids)")
    pseudo4d_dataset: str | None = Field(
        None, description="Sync phase 1 snapshot (pseudo-4D grids)"
    )
    objaverse_dataset: str | None = Field(
        None, description="Sync phase 2 snapshot (Objaverse grids)"
    )
    upsampler_dataset: str | None = Field(
        None, description="Upsampler snapshot; empty = clips_dataset"
    )
    base_steps: int = same_field(TrainBaseParams, "steps", "Base steps at full resolution")
    base_low_res_steps: int = same_field(
        TrainBaseParams, "low_res_steps", "Base steps at half resolution first"
    )
    base_masks: BaseMaskProportions = same_field(TrainBaseParams, "base_masks")
    pseudo4d_steps: int = same_field(TrainSyncParams, "pseudo4d_steps", "Sync phase 1 steps")
    objaverse_steps: int = same_field(TrainSyncParams, "objaverse_steps", "Sync phase 2 steps")
    upsampler_steps: int = Field(
        1000, ge=0, le=10_000_000, description="Upsampler steps (0 = skip)"
    )
    sync: SyncKind = same_field(TrainSyncParams, "sync")
    finetune: Finetune = same_field(TrainSyncParams, "finetune")
    lora_rank: int = same_field(TrainSyncParams, "lora_rank")
    frames: int = same_field(TrainBaseParams, "frames", "Frames per clip (base and upsampler)")
    batch_size: int = same_field(TrainCommon, "batch_size")
    base_batch_size: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="The base's micro-batch (clips, not grids); empty = batch_size",
    )
    lr: float = same_field(TrainCommon, "lr")
    timestep_sampler: TimestepSampler = same_field(TrainCommon, "timestep_sampler")
    timestep_shift: float = same_field(TrainCommon, "timestep_shift")
    loss_weighting: LossWeighting = same_field(TrainCommon, "loss_weighting")
    precision: Precision = same_field(TrainCommon, "precision")
    seed: Seed = 0
    workers: int = same_field(TrainCommon, "workers")
    loader_workers: int = same_field(TrainCommon, "loader_workers")
    device: Device = same_field(TrainCommon, "device")
    ray_address: RayAddress = None
    checkpoint_every: int = same_field(TrainCommon, "checkpoint_every")
    log_every: int = same_field(TrainCommon, "log_every")
    eval_every: int = same_field(
        TrainCommon,
        "eval_every",
        "Steps between validation losses on the held-out part of each snapshot "
        "(every stage; 0 = off)",
    )
    val_items: int = same_field(TrainCommon, "val_items")
    sample_every: int = same_field(
        TrainSyncParams, "sample_every", "Sync: steps between generated held-out grids (0 = off)"
    )

    def _common(self) -> dict:
        return {k: getattr(self, k) for k in ALL_STAGES_SHARE}

    def base(self) -> TrainBaseParams:
        common = self._common()
        if self.base_batch_size is not None:
            common["batch_size"] = self.base_batch_size
        return TrainBaseParams(
            **common,
            dataset=self.clips_dataset,
            steps=self.base_steps,
            low_res_steps=self.base_low_res_steps,
            frames=self.frames,
            base_masks=self.base_masks,
        )

    def sync_params(self, parent_checkpoint: str) -> TrainSyncParams:
        return TrainSyncParams(
            **self._common(),
            parent_checkpoint=parent_checkpoint,
            sync=self.sync,
            finetune=self.finetune,
            lora_rank=self.lora_rank,
            pseudo4d_dataset=self.pseudo4d_dataset,
            pseudo4d_steps=self.pseudo4d_steps,
            objaverse_dataset=self.objaverse_dataset,
            objaverse_steps=self.objaverse_steps,
            sample_every=self.sample_every,
        )

    def upsampler(self) -> TrainUpsamplerParams | None:
        if not self.upsampler_steps:
            return None
        return TrainUpsamplerParams(
            **self._common(),
            steps=self.upsampler_steps,
            frames=self.frames,
            dataset=self.upsampler_dataset or self.clips_dataset,
        )

    @model_validator(mode="after")
    def _sync_data(self):
        check_sync_phases(self)
        check_finetune(self)
        return self


STAGE_PARAMS = {"base": TrainBaseParams, "sync": TrainSyncParams, "upsampler": TrainUpsamplerParams}
