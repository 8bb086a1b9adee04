"""One training engine for the three stages (docs/training.md#the-engine). No Prefect, no catalog.

``Engine(cfg, model, phases, run_dir, ...).fit() -> summary``

* ``phases``: consecutive ``Phase``s, each a number of optimiser steps on one
  ``StreamDataset`` (base: 36x64 then 72x128; sync: pseudo-4D then Objaverse;
  upsampler: one phase). Phase ``p`` reads its dataset's stream from the
  position the step count implies, so resuming needs no sampler state.
* AdamW over the parameters that require grad (the sync layers only, for the
  4D model), linear warmup then cosine decay to ``min_lr_ratio * lr``,
  gradient clipping, EMA of the trained parameters, gradient accumulation,
  bf16 autocast (``precision``), optional ``torch.compile``.
* The noise and flow times of step ``n`` come from a generator seeded by
  ``(seed, rank, n, micro-batch)``: a run resumed at ``n`` draws exactly what
  the uninterrupted run drew (tested bit-for-bit after a SIGKILL).
* Under ``torch.distributed`` (Ray Train's TorchTrainer sets it up, see
  ``tasks.train.distributed``) the model is wrapped in DDP; every rank reads
  its own share of the stream; only rank 0 writes checkpoints and metrics.

Stage losses (model/): base ``flow_loss`` with a context and the masking
recipe's known frames; sync ``flow_loss`` on grids (pixel validity as weight);
upsampler ``flow_loss`` on high-res clips conditioned on their noise-augmented,
area-downsampled and re-upsampled frames.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from fourreal.core.io import atomic_write_text
from model.config import config_to_dict
from model.flow import flow_loss
from model.upsampler import upsampler_loss
from tasks.train import checkpointing as ckpt
from tasks.train.callbacks import Callback
from tasks.train.data import StreamDataset, make_loader

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(kw_only=True)
class EngineConfig:
    """Optimisation settings shared by every stage."""

    stage: str
    """base | sync | upsampler (picks the loss)."""
    batch_size: int = 2
    """Samples per micro-batch per rank."""
    grad_accum: int = 1
    """Micro-batches per optimiser step (effective batch = batch_size x grad_accum x ranks)."""
    lr: float = 1e-4
    """Peak learning rate."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    warmup_steps: int = 0
    """Linear warmup from 0 to ``lr``."""
    min_lr_ratio: float = 0.1
    """The cosine decays to ``min_lr_ratio * lr`` at the last step."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 = no clipping)."""
    ema_decay: float = 0.999
    """EMA decay (warmed up as ``min(decay, (1 + n) / (10 + n))``)."""
    precision: str = "auto"
    """auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16."""
    compile: bool = False
    """``torch.compile`` the model."""
    seed: int = 0
    """Data order, per-item and per-step randomness."""
    loader_workers: int = 0
    """DataLoader worker processes per rank."""
    checkpoint_every: int = 100
    """Steps between checkpoints (the last step always writes one)."""
    keep_last: int = 3
    """Checkpoint folders kept on disk (catalog rows stay)."""
    log_every: int = 10
    """Steps between logged metrics."""
    timestep_sampler: str = "logit_normal"
    """Flow-time distribution in training (model.flow.TIMESTEP_SAMPLERS)."""

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("batch_size", "grad_accum", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {self.keep_last}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass
class Phase:
    """``steps`` optimiser steps on one dataset at one resolution."""

    name: str
    steps: int
    dataset: StreamDataset
    dataset_id: str


def lr_at(step: int, total: int, cfg: EngineConfig) -> float:
    """Learning rate of step ``step`` (0-based): warmup, then cosine to ``min_lr_ratio``."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, total - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.min_lr_ratio * cfg.lr
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def step_seed(seed: int, rank: int, step: int, micro: int) -> int:
    h = hashlib.sha256(f"step/{seed}/{rank}/{step}/{micro}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


class EMA:
    """Exponential moving average of the trained parameters (by name)."""

    def __init__(self, named: dict[str, nn.Parameter], decay: float):
        self.params, self.decay = named, decay
        self.shadow = {k: p.detach().clone().float() for k, p in named.items()}

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for k, p in self.params.items():
            self.shadow[k].lerp_(p.detach().float(), 1.0 - d)

    def tensors(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu() for k, v in self.shadow.items()}

    def load(self, tensors: dict[str, Tensor]) -> None:
        for k in self.shadow:
            self.shadow[k].copy_(tensors[k])


def stage_loss(stage: str, net, core: nn.Module, batch: dict, gen, sampler: str) -> Tensor:
    """The training loss of one micro-batch; ``net`` may be DDP/compiled, ``core`` is bare."""
    x = batch["x"]
    if stage == "base":  # x [B, F, 3, H, W]
        ctx = batch["context"]
        return flow_loss(
            lambda xs, s, k: net(xs, s, ctx, k), x, batch["known"], generator=gen,
            timestep_sampler=sampler,
        )  # fmt: skip
    if stage == "sync":  # x [B, V, T, 3, H, W]
        return flow_loss(
            net, x, batch["known"], generator=gen, timestep_sampler=sampler, weight=batch["weight"]
        )
    # upsampler: x [B, F, 3, H, W] high-res; the low-res condition is made from it
    return upsampler_loss(core, x, net=net, generator=gen, timestep_sampler=sampler)


def state_fingerprint(cfg: EngineConfig, model_config, phases: list[Phase]) -> dict:
    """What a resumed run must share with the checkpoint it resumes from."""
    keep = ("stage", "batch_size", "grad_accum", "lr", "weight_decay", "betas", "warmup_steps")
    keep += ("min_lr_ratio", "grad_clip", "ema_decay", "seed", "timestep_sampler")
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
    ):
        self.cfg, self.model, self.phases = cfg, model, phases
        self.run_dir, self.meta, self.callbacks = Path(run_dir), meta, list(callbacks)
        self.device, self.resume = torch.device(device), resume
        self.record_stream = record_stream  # stream indices read by this rank, if a list
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.total = sum(p.steps for p in phases)
        self.model_config = model.cfg
        self.fingerprint = json.loads(
            json.dumps(state_fingerprint(cfg, self.model_config, phases), default=list)
        )

    # ---------------------------------------------------------------- setup
    def _autocast(self):
        bf16 = self.cfg.precision == "bf16" or (
            self.cfg.precision == "auto" and self.device.type == "cuda"
        )
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _restore(self, opt, ema) -> int:
        """Load the latest checkpoint of ``run_dir`` if any; returns the step to start at."""
        latest = ckpt.latest_checkpoint(self.run_dir) if self.resume else None
        if latest is None:
            return 0
        state = ckpt.load_checkpoint_state(latest)
        saved = state["extra"].get("fingerprint")
        if saved != self.fingerprint:
            diff = sorted(
                k for k in set(saved or {}) | set(self.fingerprint)
                if (saved or {}).get(k) != self.fingerprint.get(k)
            )  # fmt: skip
            raise ValueError(
                f"resume: {latest} was written with different settings ({', '.join(diff)}); "
                "use another run_name or resume=False"
            )
        self.model.load_state_dict(state["model_tensors"], strict=True)
        if opt is not None and state["optimizer"] is not None:
            ckpt.load_optimizer_state(opt, state["optimizer_tensors"], state["optimizer"])
        if ema is not None and state["ema_tensors"] is not None:
            ema.load(state["ema_tensors"])
        ckpt.set_rng_state(state["rng_tensors"], state["rng"])
        return int(state["step"])

    # ---------------------------------------------------------------- fit
    def fit(self) -> dict:
        cfg, model = self.cfg, self.model
        model.to(self.device).train()
        named = {k: p for k, p in model.named_parameters() if p.requires_grad}
        opt = ema = None
        if named:
            opt = torch.optim.AdamW(
                list(named.values()), lr=cfg.lr, betas=tuple(cfg.betas),
                weight_decay=cfg.weight_decay,
            )  # fmt: skip
            ema = EMA(named, cfg.ema_decay)
        start = self._restore(opt, ema)
        total = self.total if named else 0  # nothing to train (sequential sync): step-0 checkpoint
        net = model
        if self.world > 1 and named:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if cfg.compile:
            net = torch.compile(net)
        lead = self.rank == 0
        if lead:
            self._trim_history(start)
        self._emit("on_start", dict(stage=cfg.stage, run_dir=str(self.run_dir),
                                    start_step=start, total_steps=total))  # fmt: skip
        summary = {"stage": cfg.stage, "run_dir": str(self.run_dir), "start_step": start,
                   "total_steps": total, "checkpoints": [], "trainable_parameters":
                   sum(p.numel() for p in named.values())}  # fmt: skip
        if not named:
            summary["note"] = "no trainable parameters: nothing to optimise"
        step, last, t_start = start, {}, time.perf_counter()
        per_step = cfg.batch_size * cfg.grad_accum  # samples per rank per step
        phase_start = 0
        for p_idx, phase in enumerate(self.phases):
            p_end = phase_start + phase.steps if named else 0
            if step >= p_end:
                phase_start = p_end
                continue
            loader = make_loader(
                phase.dataset, (step - phase_start) * per_step, phase.steps * per_step,
                batch_size=cfg.batch_size, rank=self.rank, world=self.world,
                workers=cfg.loader_workers, pin_memory=self.device.type == "cuda",
            )  # fmt: skip
            batches = iter(loader)
            first = True
            while step < p_end:
                lr = lr_at(step, total, cfg)
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad(set_to_none=True)
                t0 = time.perf_counter()
                wait = 0.0
                loss_sum = torch.zeros((), device=self.device)
                for micro in range(cfg.grad_accum):
                    tw = time.perf_counter()
                    cpu_batch = next(batches)
                    if self.record_stream is not None:
                        self.record_stream.extend(cpu_batch["k"].tolist())
                    batch = {k: v.to(self.device, non_blocking=True) for k, v in cpu_batch.items()}
                    wait += time.perf_counter() - tw
                    gen = torch.Generator(self.device).manual_seed(
                        step_seed(cfg.seed, self.rank, step, micro)
                    )
                    sync = micro == cfg.grad_accum - 1 or not isinstance(
                        net, nn.parallel.DistributedDataParallel
                    )
                    with contextlib.nullcontext() if sync else net.no_sync(), self._autocast():
                        loss = stage_loss(cfg.stage, net, model, batch, gen, cfg.timestep_sampler)
                    (loss / cfg.grad_accum).backward()
                    loss_sum += loss.detach() / cfg.grad_accum
                clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
                grad_norm = torch.nn.utils.clip_grad_norm_(list(named.values()), clip)
                opt.step()
                ema.update(step)
                step += 1
                if self.world > 1:
                    dist.all_reduce(loss_sum)
                    loss_sum /= self.world
                dt = time.perf_counter() - t0
                if first or step % cfg.log_every == 0 or step == p_end:
                    last = {
                        "loss": float(loss_sum), "lr": lr, "grad_norm": float(grad_norm),
                        "samples_per_s": per_step * self.world / dt, "step_time_s": dt,
                        "data_wait_s": wait, "phase": p_idx,
                        "height": phase.dataset.spec.height, "width": phase.dataset.spec.width,
                    }  # fmt: skip
                    if lead:
                        self._append_history(step, last, phase_start=first)
                    self._emit("on_log", step, last)
                    first = False
                if step % cfg.checkpoint_every == 0 or step == p_end:
                    summary["checkpoints"] += self._checkpoint(step, opt, ema, phase, last)
            phase_start = p_end
        if not named or (step == start and ckpt.latest_checkpoint(self.run_dir) is None):
            summary["checkpoints"] += self._checkpoint(step, opt, ema, self.phases[-1], last)
        summary.update(
            final_step=step,
            final_metrics=last,
            wall_s=time.perf_counter() - t_start,
            weights_sha256=weights_digest(model),
            final_checkpoint=str(ckpt.latest_checkpoint(self.run_dir) / ckpt.MODEL_FILE)
            if lead
            else None,
        )
        rows = [r for r in summary["checkpoints"] if r]
        summary["final_checkpoint_id"] = rows[-1]["checkpoint_id"] if rows else None
        self._emit("on_end", summary)
        return summary

    # ---------------------------------------------------------------- IO
    def _emit(self, hook: str, *args):
        if self.rank != 0:
            return []
        return [getattr(cb, hook)(*args) for cb in self.callbacks]

    def _checkpoint(self, step: int, opt, ema, phase: Phase, metrics: dict) -> list:
        if self.rank != 0:
            return []
        extra = {
            **self.meta,
            "stage": self.cfg.stage,
            "step": step,
            "dataset_id": phase.dataset_id,
            "metrics": metrics,
            "engine": dataclasses.asdict(self.cfg),
            "fingerprint": self.fingerprint,
        }
        path = ckpt.save_checkpoint(
            self.run_dir, step=step, model=self.model, config=self.model_config,
            ema_tensors=ema.tensors() if ema else None, optimizer=opt,
            state={"phase": phase.name}, extra=extra,
        )  # fmt: skip
        ckpt.keep_latest(self.run_dir, self.cfg.keep_last)
        config = {"model_kind": type(self.model).__name__, "model": config_to_dict(self.model_config),
                  "engine": dataclasses.asdict(self.cfg), **self.meta}  # fmt: skip
        meta = {"dataset_id": phase.dataset_id, "config": config, "metrics": metrics}
        return [r for r in self._emit("on_checkpoint", step, path, meta) if r]

    def _trim_history(self, start: int) -> None:
        """Drop history lines a killed run wrote past its last checkpoint."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        keep = [
            ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= start
        ]
        atomic_write_text(path, "".join(ln + "\n" for ln in keep))

    def _append_history(self, step: int, metrics: dict, phase_start: bool) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **metrics, "phase_start": phase_start}) + "\n")


def weights_digest(model: nn.Module) -> str:
    """sha256 over the state dict (names, shapes, bytes): equal digests = equal weights."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
