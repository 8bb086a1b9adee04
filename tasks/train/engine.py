"""One training engine for the three stages (docs/training.md). No Prefect, no catalog.

``Engine(cfg, model, phases, run_dir, ...).fit() -> summary``, in three levels
(the shape of nanoGPT's and torchtitan's loops):

* :meth:`Engine.setup` -- model on its device, AdamW and EMA over the
  parameters that require grad (the sync layers only, for the 4D model), the
  latest checkpoint of ``run_dir`` restored (weights, EMA, optimizer, RNG),
  DDP (under ``torch.distributed``) and ``torch.compile`` (default on CUDA),
  and a traced estimate of the step's peak memory, printed before step 1;
* :meth:`Engine.run_phase` -- the steps of one ``Phase`` (base: 36x64 then
  72x128; sync: pseudo-4D then Objaverse; upsampler: one phase) on its
  ``StreamDataset``, read from the position the step count implies (resuming
  needs no sampler state), logging and checkpointing;
* :meth:`Engine.step` -- one optimiser step over ``grad_accum`` micro-batches:
  linear warmup then cosine learning rate, bf16 autocast with a float32 loss,
  DDP gradient sync on the last micro-batch only (``no_sync`` before it, also
  when the DDP module sits inside a compiled one), gradient clipping, AdamW,
  EMA in float32.

The flow time and noise of each sample come from a generator seeded by
``(seed, step, stream index)``, and the loss is the mean of per-sample
losses: a step's result does not depend on how its samples are split into
micro-batches or ranks (grad_accum 2 equals one batch twice the size; 2 ranks
equal one), and a run resumed at step ``n`` draws exactly what the
uninterrupted run drew (tested bit-for-bit after a SIGKILL).

Validation (``tasks.train.validation``, optional): every ``eval_every`` steps,
at every checkpoint, at step 0 and at the end of each phase, rank 0 computes
the held-out loss on the EMA weights without touching the training RNG; the
best checkpoint by validation loss is marked and kept. SIGTERM and SIGINT
(``tasks.train.preemption``) end the current step, write a checkpoint and
return a summary marked ``interrupted``.

Only rank 0 writes checkpoints and metrics. Stage losses (model/): base
``flow_loss`` with a context and the masking recipe's known frames; sync
``flow_loss`` on grids (pixel validity as weight); upsampler ``flow_loss`` on
high-res clips conditioned on their noise-augmented, area-downsampled and
re-upsampled frames.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.distributed as dist
from pydantic import Field
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from core.io import atomic_write_text
from model.checkpoint import build_model, load_saved_tensors
from model.config import config_to_dict
from model.flow import flow_loss, sample_timesteps
from model.memory import GIB, MemoryReport, trace_peak_memory
from model.upsampler import upsampler_loss
from tasks.train import checkpointing as ckpt
from tasks.train.callbacks import Callback
from tasks.train.data import StreamDataset, make_loader
from tasks.train.params import EngineSettings
from tasks.train.preemption import StopFlag, stop_on_signals

Stage = Literal["base", "sync", "upsampler"]


class EngineConfig(EngineSettings):
    """What the engine reads: the training parameters' optimisation settings
    (``tasks.train.params.EngineSettings``, defaults stated there once), the stage, and
    the AdamW and schedule constants no flow exposes. ``EngineConfig.of(stage, params)``
    takes them from a stage's parameter model."""

    stage: Stage
    """base | sync | upsampler (picks the loss)."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)
    """The cosine decays to ``min_lr_ratio * lr`` at the last step."""

    @classmethod
    def of(cls, stage: str, params: EngineSettings) -> EngineConfig:
        """The engine settings of a stage's parameter model (every field of EngineSettings)."""
        return cls(stage=stage, **{k: getattr(params, k) for k in EngineSettings.model_fields})

    def uses_bf16(self, device: torch.device) -> bool:
        return self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda")

    def compiles(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.compile is None else self.compile


@dataclass
class Phase:
    """``steps`` optimiser steps on one dataset at one resolution."""

    name: str
    steps: int
    dataset: StreamDataset
    dataset_id: str


@dataclass
class TrainState:
    """What :meth:`Engine.setup` builds and every step advances."""

    model: nn.Module
    """The bare model: checkpoints, EMA and the loss's config read it."""
    net: nn.Module
    """What runs forward: the model, or DDP and/or torch.compile around it."""
    trainable: dict[str, nn.Parameter]
    opt: torch.optim.Optimizer | None
    ema: EMA | None
    step: int
    grad_syncs: SyncCounter | None = None
    """DDP gradient all-reduces (one per bucket per synced backward)."""
    metrics: dict = field(default_factory=dict)
    """The last logged metrics."""
    val: dict = field(default_factory=dict)
    """The last validation metrics, with their ``step``."""
    best_val: tuple[int, float] | None = None
    """``(step, loss)`` of the checkpoint with the lowest validation loss (across resumes)."""


def lr_at(step: int, total: int, cfg: EngineConfig) -> float:
    """Learning rate of step ``step`` (0-based): warmup, then cosine to ``min_lr_ratio``."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, total - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.min_lr_ratio * cfg.lr
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def sample_seed(seed: int, step: int, k: int) -> int:
    """Seed of the draws for stream sample ``k`` in step ``step`` (whatever its rank or batch)."""
    h = hashlib.sha256(f"sample/{seed}/{step}/{k}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


class EMA:
    """Exponential moving average of the trained parameters (by name), in float32."""

    def __init__(self, named: dict[str, nn.Parameter], decay: float):
        self.params, self.decay = named, decay
        self.shadow = {k: p.detach().clone().float() for k, p in named.items()}

    def decay_at(self, step: int) -> float:
        """Warm-up: early averages forget fast (0.1 at step 0), then ``decay``."""
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = self.decay_at(step)
        for k, p in self.params.items():
            self.shadow[k].lerp_(p.detach().float(), 1.0 - d)

    def tensors(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu() for k, v in self.shadow.items()}

    def tracked_tensors(self) -> list[Tensor]:
        return list(self.shadow.values())

    def load(self, tensors: dict[str, Tensor]) -> None:
        for k in self.shadow:
            self.shadow[k].copy_(tensors[k])


# ---------------------------------------------------------------- the loss
def _base_loss(net, core: nn.Module, batch: dict, draws: dict, noise: dict) -> Tensor:
    """x [B, F, 3, H, W], one context row per clip (freeze-time or dynamic)."""
    context = batch["context"]

    def base_velocity(xs: Tensor, s: Tensor, known: Tensor) -> Tensor:
        return net(xs, s, context, known)

    return flow_loss(base_velocity, batch["x"], batch["known"], **noise)


def _sync_loss(net, core: nn.Module, batch: dict, draws: dict, noise: dict) -> Tensor:
    """x [B, V, T, 3, H, W], weighted per pixel (warped-out pixels of pseudo-4D grids: 0)."""
    return flow_loss(net, batch["x"], batch["known"], weight=batch["weight"], **noise)


def _upsampler_loss(net, core: nn.Module, batch: dict, draws: dict, noise: dict) -> Tensor:
    """x [B, F, 3, H, W] high-res; the degraded low-res condition is made from it."""
    aug = draws["aug"] * core.cfg.max_aug
    return upsampler_loss(core, batch["x"], net=net, aug=aug, aug_noise=draws["aug_noise"], **noise)


@dataclass(frozen=True)
class Objective:
    """What one stage optimises: the loss of a micro-batch, and whether each sample
    also draws a degradation strength and its noise (``aug``, ``aug_noise``)."""

    loss: Callable[..., Tensor]
    augmented: bool = False


OBJECTIVES: dict[str, Objective] = {
    "base": Objective(_base_loss),
    "sync": Objective(_sync_loss),
    "upsampler": Objective(_upsampler_loss, augmented=True),
}


def draw_noise(
    batch: dict, objective: Objective, seed: int, step: int, sampler: str, shift: float = 1.0
) -> dict[str, Tensor]:
    """Flow times ``s [B]`` and noise like ``x`` (+ the augmentation draws), per sample."""
    x = batch["x"]  # on the device; batch["k"] [B] on the host
    draws: dict[str, list[Tensor]] = {"s": [], "noise": [], "aug": [], "aug_noise": []}
    for k in batch["k"].tolist():
        gen = torch.Generator(x.device).manual_seed(sample_seed(seed, step, k))
        draws["s"].append(sample_timesteps(1, sampler, generator=gen, device=x.device, shift=shift))
        draws["noise"].append(_randn_like(x[0], gen))
        if objective.augmented:
            draws["aug"].append(torch.rand(1, generator=gen, device=x.device))
            draws["aug_noise"].append(_randn_like(x[0], gen))
    return {k: torch.cat(v) if k in ("s", "aug") else torch.stack(v) for k, v in draws.items() if v}


def _randn_like(x: Tensor, gen: torch.Generator) -> Tensor:
    return torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def stage_loss(
    objective: Objective,
    net,
    core: nn.Module,
    batch: dict,
    draws: dict,
    weighting: str = "velocity",
) -> Tensor:
    """The training loss of one micro-batch; ``net`` may be DDP/compiled, ``core`` is bare."""
    noise = {"s": draws["s"], "noise": draws["noise"], "per_sample": True, "weighting": weighting}
    return objective.loss(net, core, batch, draws, noise)


def precision_context(cfg: EngineConfig, device: torch.device):
    """bf16 autocast (the loss stays float32) and, on CUDA, flash/efficient attention only."""
    stack = contextlib.ExitStack()
    if cfg.uses_bf16(device):
        stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
    if device.type == "cuda":
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
        stack.enter_context(sdpa_kernel(backends))
    return stack


# ---------------------------------------------------------------- DDP and compile
class SyncCounter:
    """Counts DDP's gradient all-reduces (the comm hook below calls it per bucket)."""

    def __init__(self):
        self.count = 0


def _counted_allreduce(counter: SyncCounter, bucket):
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    counter.count += 1
    return allreduce_hook(None, bucket)


def find_ddp(net: nn.Module) -> DistributedDataParallel | None:
    """The DDP module inside ``net``, looking through ``torch.compile``'s wrapper."""
    while net is not None:
        if isinstance(net, DistributedDataParallel):
            return net
        net = getattr(net, "_orig_mod", None)  # torch._dynamo OptimizedModule
    return None


def wrap_model(
    model: nn.Module, device: torch.device, world: int, compile_model: bool
) -> tuple[nn.Module, SyncCounter | None]:
    """DDP (several ranks, something to train) then torch.compile, as PyTorch recommends."""
    net, counter = model, None
    if world > 1 and any(p.requires_grad for p in model.parameters()):
        ids = [device.index] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)
        counter = SyncCounter()
        net.register_comm_hook(counter, _counted_allreduce)
    if compile_model:
        net = torch.compile(net)
    return net, counter


# ---------------------------------------------------------------- memory
def example_batch(dataset: StreamDataset, batch_size: int) -> dict[str, Tensor]:
    """A batch shaped like the loader's (stream items ``0..B-1``), for the memory trace."""
    item = dataset[0]
    return {k: v.expand(batch_size, *v.shape).clone() for k, v in item.items()}


def estimate_step_memory(
    cfg: EngineConfig,
    model_config,
    batch: dict[str, Tensor],
    device: str | torch.device,
    target: str = "cpu",
) -> MemoryReport:
    """Peak memory of one training step of a fresh model of ``model_config`` (traced, fake).

    ``target``: the device type the run will train on. A masked attention (the fused
    variant) runs a block-mask kernel on CUDA and dense SDPA elsewhere; the trace keeps
    what that kernel keeps.
    """
    device = torch.device(device)

    def build():
        with device:
            model = build_model(model_config).train()
        if hasattr(model, "attention"):  # model.fused: its attention backend on ``target``
            model.attention = "memory-proxy" if target == "cuda" else "sdpa"
        trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
        opt, ema = make_optimizer(cfg, trainable)
        fake = {k: torch.zeros(v.shape, dtype=v.dtype, device=device) for k, v in batch.items()}
        return model, trainable, opt, ema, fake

    def step(model, trainable, opt, ema, fake):
        with precision_context(cfg, device):
            objective = OBJECTIVES[cfg.stage]
            loss = stage_loss(objective, model, model, fake, fake_draws(fake, objective))
        if opt is None:  # nothing trains (e.g. a fully frozen model): the forward is the whole step
            return
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(trainable.values()), 1.0)
        opt.step()
        ema.update(0)

    return trace_peak_memory(build, step, device)


def fake_draws(batch: dict, objective: Objective) -> dict[str, Tensor]:
    """The shapes :func:`draw_noise` returns, drawn without per-sample generators."""
    x = batch["x"]
    B = x.shape[0]
    draws = {"s": torch.rand(B, device=x.device), "noise": torch.randn_like(x)}
    if objective.augmented:
        draws.update(aug=torch.rand(B, device=x.device), aug_noise=torch.randn_like(x))
    return draws


def make_optimizer(cfg: EngineConfig, trainable: dict[str, nn.Parameter]):
    """AdamW and the EMA over ``trainable`` (``None, None`` when there is nothing to train)."""
    if not trainable:
        return None, None
    opt = torch.optim.AdamW(
        list(trainable.values()), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    return opt, EMA(trainable, cfg.ema_decay)


def state_fingerprint(cfg: EngineConfig, model_config, phases: list[Phase]) -> dict:
    """What a resumed run must share with the checkpoint it resumes from."""
    keep = ("stage", "batch_size", "grad_accum", "lr", "weight_decay", "betas", "warmup_steps")
    keep += ("min_lr_ratio", "grad_clip", "ema_decay", "seed", "timestep_sampler")
    # settings added later enter only when not at their old value: older runs still resume
    keep += ("loss_weighting",) if cfg.loss_weighting != "velocity" else ()
    keep += ("timestep_shift",) if cfg.timestep_shift != 1.0 else ()
    return {
        "engine": {k: getattr(cfg, k) for k in keep},
        "model": config_to_dict(model_config),
        "phases": [[p.name, p.steps, p.dataset_id] for p in phases],
    }


class Engine:
    def __init__(
        self,
        cfg: EngineConfig,
        model: nn.Module,
        phases: list[Phase],
        run_dir: Path,
        *,
        meta: dict,
        callbacks: list[Callback] = (),
        device: str | torch.device = "cpu",
        resume: bool = True,
        record_stream: list[int] | None = None,
        base_ref: dict | None = None,
        validator=None,
    ):
        self.cfg, self.model, self.phases = cfg, model, phases
        self.run_dir, self.meta, self.callbacks = Path(run_dir), meta, list(callbacks)
        self.device, self.resume = torch.device(device), resume
        self.record_stream = record_stream  # stream indices read by this rank, if a list
        self.skipped_samples = 0  # corrupt samples the loader skipped (logged as a metric)
        self.base_ref = base_ref  # sync stage: checkpoints reference the frozen base
        self.validator = validator  # tasks.train.validation.Validator, or None
        self.stop = StopFlag()  # set by SIGTERM / SIGINT while fit runs
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.total = sum(p.steps for p in phases)
        self.model_config = model.cfg
        fingerprint = state_fingerprint(cfg, self.model_config, phases)
        self.fingerprint = json.loads(json.dumps(fingerprint, default=list))
        self.memory: MemoryReport | None = None

    # ---------------------------------------------------------------- fit
    def fit(self) -> dict:
        """Setup, then every phase from where the run stands; returns the summary."""
        state = self.setup()
        summary = self._start(state)
        # One process only: under DDP every rank would have to agree on the last step.
        handlers = stop_on_signals(self.stop) if self.world == 1 else contextlib.nullcontext()
        with handlers:
            if state.step == 0 and state.trainable:
                self._validate(state)  # where the validation curve starts
            begin = 0
            for index, phase in enumerate(self.phases):
                if self.stop.requested:
                    break
                if state.trainable and state.step < begin + phase.steps:
                    summary["checkpoints"] += self.run_phase(state, index, phase, begin)
                begin += phase.steps
            return self._finish(state, summary)

    # ---------------------------------------------------------------- setup
    def setup(self) -> TrainState:
        """Model, optimizer, EMA, restored checkpoint, DDP/compile; prints the memory estimate."""
        model = self.model.to(self.device).train()
        trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
        opt, ema = make_optimizer(self.cfg, trainable)
        self.memory = self._estimate_memory()  # before the restore: it must not move any RNG
        start = self._restore(model, opt, ema)
        compile_model = self.cfg.compiles(self.device)
        net, counter = wrap_model(model, self.device, self.world, compile_model)
        return TrainState(model, net, trainable, opt, ema, start, grad_syncs=counter)

    def _estimate_memory(self) -> MemoryReport | None:
        """Trace one step at the last (largest) phase's shapes and print the peak."""
        if not self.phases or self.rank != 0:
            return None
        batch = example_batch(self.phases[-1].dataset, self.cfg.batch_size)
        try:
            report = estimate_step_memory(self.cfg, self.model_config, batch, self.device)
        except Exception as e:  # an estimate must never stop a run; say why it is missing
            self._emit("on_message", f"[train {self.cfg.stage}] no memory estimate: "
                       f"{type(e).__name__}: {e}")  # fmt: skip
            return None
        mode = getattr(self.model_config, "base", self.model_config).grad_checkpointing
        self._emit(
            "on_message",
            f"[train {self.cfg.stage}] memory estimate, batch {self.cfg.batch_size} per rank, "
            f"activation checkpointing {mode}: {report.describe()}",
        )
        return report

    def _restore(self, model: nn.Module, opt, ema) -> int:
        """Load the latest checkpoint of ``run_dir`` if any; returns the step to start at."""
        latest = ckpt.latest_checkpoint(self.run_dir) if self.resume else None
        if latest is None:
            return 0
        saved = ckpt.load_checkpoint_state(latest)
        self._check_fingerprint(saved["extra"].get("fingerprint") or {}, latest)
        load_saved_tensors(model, saved["model_tensors"], saved["base_referenced"])
        if opt is not None and saved["optimizer"] is not None:
            ckpt.load_optimizer_state(opt, saved["optimizer_tensors"], saved["optimizer"])
        if ema is not None and saved["ema_tensors"] is not None:
            ema.load(saved["ema_tensors"])
        ckpt.set_rng_state(saved["rng_tensors"], saved["rng"])
        return int(saved["step"])

    def _check_fingerprint(self, saved: dict, latest: Path) -> None:
        keys = set(saved) | set(self.fingerprint)
        diff = sorted(k for k in keys if saved.get(k) != self.fingerprint.get(k))
        if diff:
            raise ValueError(
                f"resume: {latest} was written with different settings ({', '.join(diff)}); "
                "use another run_name or resume=False"
            )

    # ---------------------------------------------------------------- phase
    def run_phase(self, state: TrainState, index: int, phase: Phase, begin: int) -> list[dict]:
        """Steps ``[state.step, begin + phase.steps)`` of ``phase``; returns checkpoint rows."""
        cfg, end = self.cfg, begin + phase.steps
        per_step = cfg.batch_size * cfg.grad_accum  # samples per rank per step
        loader = make_loader(
            phase.dataset,
            (state.step - begin) * per_step,
            phase.steps * per_step,
            batch_size=cfg.batch_size,
            rank=self.rank,
            world=self.world,
            workers=cfg.loader_workers,
            pin_memory=self.device.type == "cuda",
        )
        batches, rows, first = iter(loader), [], True
        while state.step < end:
            t0 = time.perf_counter()
            micro_batches, wait = self._next_micro_batches(batches)
            out = self.step(state, micro_batches)
            stopping = self.stop.requested  # a signal came: this step was the last
            if first or state.step % cfg.log_every == 0 or state.step == end or stopping:
                self._log(state, out, t0, wait, index, phase, first)
                first = False
            save = state.step % cfg.checkpoint_every == 0 or state.step == end
            if not stopping and self._validation_due(state.step, save):
                self._validate(state)
            if save or stopping:
                rows += self._checkpoint(state, phase)
            if stopping:
                break
        return rows

    def _validation_due(self, step: int, checkpoint: bool) -> bool:
        """Every ``eval_every`` steps and at every checkpoint (the best one is chosen by it)."""
        v = self.validator
        if v is None or self.rank != 0:
            return False
        return (v.cfg.eval_every > 0 and (checkpoint or v.loss_due(step))) or v.sample_due(step)

    def _validate(self, state: TrainState) -> None:
        """Held-out metrics on the EMA weights: history, callbacks, a line on stdout."""
        if self.validator is None or self.rank != 0 or not self.validator.cfg.eval_every:
            return
        metrics = self.validator.run(state.model, state.trainable, state.ema, state.step)
        state.val = {"step": state.step, **metrics}
        self._append_history(state.step, {"split": "val", **metrics}, phase_start=False)
        shown = f"val loss {metrics['loss']:.4f}"
        if "psnr/model" in metrics:
            shown += f", held-out PSNR {metrics['psnr/model']:.2f} dB"
            shown += f" (oracle baseline {metrics.get('psnr/oracle', float('nan')):.2f})"
        self._emit(
            "on_message", f"[train {self.cfg.stage}] step {state.step}: {shown} (EMA weights)"
        )
        self._emit("on_validate", state.step, metrics)

    def _next_micro_batches(self, batches) -> tuple[list[dict], float]:
        """``grad_accum`` batches on the device, and the seconds spent waiting for them."""
        t0, out = time.perf_counter(), []
        for _ in range(self.cfg.grad_accum):
            cpu_batch = next(batches)
            if self.record_stream is not None:
                self.record_stream.extend(cpu_batch["k"].tolist())
            if "skipped" in cpu_batch:  # corrupt samples the loader skipped for these items
                self.skipped_samples += int(cpu_batch.pop("skipped").sum())
            # stream indices stay on the host: they seed the draws (no device sync to read them)
            out.append(
                {
                    k: v if k == "k" else v.to(self.device, non_blocking=True)
                    for k, v in cpu_batch.items()
                }
            )
        return out, time.perf_counter() - t0

    def _log(self, state, out: dict, t0: float, wait: float, index: int, phase, first: bool):
        loss = out["loss"]
        if self.world > 1:
            dist.all_reduce(loss)
            loss = loss / self.world
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        dt = time.perf_counter() - t0
        metrics = {
            "loss": float(loss),
            "lr": out["lr"],
            "grad_norm": float(out["grad_norm"]),
            "samples_per_s": self.cfg.batch_size * self.cfg.grad_accum * self.world / dt,
            "step_time_s": dt,
            "data_wait_s": wait,
            "skipped_samples": self.skipped_samples,
            "phase": index,
            "height": phase.dataset.spec.height,
            "width": phase.dataset.spec.width,
        }
        if self.device.type == "cuda":
            metrics["peak_memory_gib"] = torch.cuda.max_memory_allocated(self.device) / GIB
        state.metrics = metrics
        if self.rank == 0:
            self._append_history(state.step, metrics, phase_start=first)
        self._emit("on_log", state.step, metrics)

    # ---------------------------------------------------------------- step
    def step(self, state: TrainState, micro_batches: list[dict]) -> dict:
        """One optimiser step over ``micro_batches`` (device batches); returns its metrics.

        ``loss`` and ``grad_norm`` stay tensors (no device sync until logged).
        """
        cfg, n = self.cfg, len(micro_batches)
        objective = OBJECTIVES[cfg.stage]
        lr = lr_at(state.step, self.total, cfg)
        for group in state.opt.param_groups:
            group["lr"] = lr
        state.opt.zero_grad(set_to_none=True)
        ddp = find_ddp(state.net)
        loss_sum = torch.zeros((), device=self.device)
        for i, batch in enumerate(micro_batches):
            draws = draw_noise(
                batch, objective, cfg.seed, state.step, cfg.timestep_sampler, cfg.timestep_shift
            )
            # DDP all-reduces the gradients in the last micro-batch's backward only
            defer_sync = ddp is not None and i < n - 1
            with ddp.no_sync() if defer_sync else contextlib.nullcontext():
                with precision_context(cfg, self.device):
                    loss = stage_loss(
                        objective, state.net, state.model, batch, draws, cfg.loss_weighting
                    )
                (loss / n).backward()
            loss_sum += loss.detach() / n
        clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(list(state.trainable.values()), clip)
        state.opt.step()
        state.ema.update(state.step)
        state.step += 1
        return {"loss": loss_sum, "grad_norm": grad_norm, "lr": lr}

    # ---------------------------------------------------------------- summary
    def _start(self, state: TrainState) -> dict:
        total = self.total if state.trainable else 0  # nothing to train: a step-0 checkpoint
        if self.rank == 0:
            self._trim_history(state.step)
            state.best_val = read_best(self.run_dir, state.step)
        info = {"stage": self.cfg.stage, "run_dir": str(self.run_dir)}
        info.update(start_step=state.step, total_steps=total)
        self._emit("on_start", dict(info))
        summary = {**info, "checkpoints": []}
        summary["trainable_parameters"] = sum(p.numel() for p in state.trainable.values())
        if self.memory is not None:
            summary["memory_estimate_gib"] = self.memory.peak_gib
        if not state.trainable:
            summary["note"] = "no trainable parameters: nothing to optimise"
        self._t_start = time.perf_counter()
        return summary

    def _finish(self, state: TrainState, summary: dict) -> dict:
        nothing_saved = ckpt.latest_checkpoint(self.run_dir) is None
        if not state.trainable or (state.step == summary["start_step"] and nothing_saved):
            summary["checkpoints"] += self._checkpoint(state, self.phases[-1])
        latest = ckpt.latest_checkpoint(self.run_dir)
        summary.update(
            final_step=state.step,
            final_metrics=state.metrics,
            wall_s=time.perf_counter() - self._t_start,
            weights_sha256=weights_digest(state.model),
            final_checkpoint=str(latest / ckpt.MODEL_FILE) if self.rank == 0 else None,
        )
        if state.grad_syncs is not None:
            summary["gradient_allreduces"] = state.grad_syncs.count
        rows = [r for r in summary["checkpoints"] if r]
        summary["final_checkpoint_id"] = rows[-1]["checkpoint_id"] if rows else None
        if state.best_val is not None or state.val:
            best_step, best_loss = state.best_val or (None, None)
            summary["validation"] = {"best_step": best_step, "best_loss": best_loss}
            summary["validation"]["last"] = state.val
        if self.stop.requested:
            summary.update(interrupted=self.stop.name, interrupted_by_signum=self.stop.signum)
        self._emit("on_end", summary)
        return summary

    # ---------------------------------------------------------------- IO
    def _emit(self, hook: str, *args):
        if self.rank != 0:
            return []
        return [getattr(cb, hook)(*args) for cb in self.callbacks]

    def _checkpoint(self, state: TrainState, phase: Phase) -> list:
        if self.rank != 0:
            return []
        metrics = self._checkpoint_metrics(state)  # may make this checkpoint the best
        extra = {
            **self.meta,
            "stage": self.cfg.stage,
            "step": state.step,
            "dataset_id": phase.dataset_id,
            "metrics": metrics,
            "engine": self.cfg.model_dump(),
            "fingerprint": self.fingerprint,
        }
        path = ckpt.save_checkpoint(
            self.run_dir,
            step=state.step,
            model=state.model,
            config=self.model_config,
            ema_tensors=state.ema.tensors() if state.ema else None,
            optimizer=state.opt,
            state={"phase": phase.name},
            extra=extra,
            base_ref=self.base_ref,
        )
        if metrics.get("best_val"):  # once its folder is complete
            write_best(self.run_dir, state.step, metrics["val_loss"])
        best_step = state.best_val[0] if state.best_val else None
        ckpt.keep_latest(self.run_dir, self.cfg.keep_last, keep_step=best_step)
        config = {
            "model_kind": type(state.model).__name__,
            "model": config_to_dict(self.model_config),
            "engine": self.cfg.model_dump(),
            **self.meta,
        }
        meta = {"dataset_id": phase.dataset_id, "config": config, "metrics": metrics}
        rows = [r for r in self._emit("on_checkpoint", state.step, path, meta) if r]
        self._emit("on_checkpoint_recorded", state.step, rows)
        return rows

    def _checkpoint_metrics(self, state: TrainState) -> dict:
        """The last logged metrics, plus this step's validation loss and whether it is the best
        checkpoint so far (``best_val``: the last checkpoint so marked is the run's best)."""
        metrics = dict(state.metrics)
        if state.val.get("step") == state.step:
            loss = state.val["loss"]
            best = state.best_val is None or loss < state.best_val[1]
            if best:
                state.best_val = (state.step, loss)
            metrics.update(val_loss=loss, best_val=best)
        return metrics

    def _trim_history(self, start: int) -> None:
        """Drop history lines a killed run wrote past its last checkpoint."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        keep = [ln for ln in lines if ln and json.loads(ln)["step"] <= start]
        atomic_write_text(path, "".join(ln + "\n" for ln in keep))

    def _append_history(self, step: int, metrics: dict, phase_start: bool) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **metrics, "phase_start": phase_start}) + "\n")


BEST_FILE = "best.json"


def write_best(run_dir: Path, step: int, val_loss: float) -> None:
    """``<run>/best.json``: the checkpoint with the lowest validation loss (kept on disk)."""
    folder = Path(run_dir) / "checkpoints" / ckpt.step_dir_name(step)
    text = json.dumps({"step": step, "val_loss": val_loss, "checkpoint": str(folder)})
    atomic_write_text(Path(run_dir) / BEST_FILE, text + "\n")


def read_best(run_dir: Path, upto: int) -> tuple[int, float] | None:
    """``(step, val_loss)`` of the best checkpoint at or before step ``upto`` (a resume)."""
    path = Path(run_dir) / BEST_FILE
    if not path.exists():
        return None
    best = json.loads(path.read_text())
    return (best["step"], best["val_loss"]) if best["step"] <= upto else None


def weights_digest(model: nn.Module) -> str:
    """sha256 over the state dict (names, shapes, bytes): equal digests = equal weights."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
