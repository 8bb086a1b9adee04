"""Ablation of the synchronisation: sequential vs hard vs soft vs soft without objects.

    .venv/bin/python -m bench.ablation                              # defaults: 2 CPU cores, 17 min (measured)
    .venv/bin/python -m bench.ablation --device cuda --preset small # the same experiment on a GPU
    .venv/bin/python -m bench.ablation --seeds 0 --sampling-seeds 0 --heldout 16  # a quick look

The experiment (everything written under ``--home``, a new temporary folder by default):

1. **data**, in two kinds like the paper: pseudo-4D grids (tasks.videos.pseudo4d's
   camera paths warping synthetic videos, synthetic.videos) and rendered
   objects (procedural animated GLBs, synthetic.objects, rendered by the
   real renderer, renderers.job.render_object). The last ``--heldout``
   objects are never trained on: they are the evaluation set.
2. **base**: one DiT of the preset trained by the training engine
   (tasks.train.engine) on freeze-time and fixed-view clips of the training
   grids of both kinds, with the base masking recipe.
3. **sync**, for every training seed, four 4D models around that same frozen
   base, trained by the same engine with the same steps, batch, learning rate
   and grid masks (phase 1 pseudo-4D, phase 2 objects):
   ``sequential`` (interleaved passes plus a zero-init gated linear after
   each; the same trainable budget as soft), ``hard``, ``soft`` and
   ``soft_no_objects`` (soft, both phases on pseudo-4D grids: the paper's
   "w/o Obj" row). Every table prints each variant's trainable parameters.
4. **evaluation** on the held-out grids, every model, every sampling seed:
   each grid generated from its ``grid[0, :]`` and ``grid[:, 0]`` (Euler,
   ``--sample-steps``); PSNR and SSIM over the generated frames; LPIPS when
   its weights are on disk (tasks.metrics; else a ``skipped`` line); the
   weight-free consistency score of the generated grid (mean of its
   freeze-time and fixed-view scores); and the held-out masked flow loss at
   fixed noise levels with fixed noise (no sampling: the low-variance
   measure).
5. **statistics**: per-grid values averaged over seeds; paired bootstrap 95%
   intervals (scipy.stats.bootstrap, percentile) of the mean per-grid
   difference soft - hard, hard - sequential, soft - soft_no_objects; the
   spread over training seeds; and, for soft sync, the per-layer stream
   divergence ``|x_v - x_t| / |x_v|`` after each layer's sync, trained vs
   untrained (does sync pull the streams together, and more with depth?).

The table has the trivial baselines as rows (tasks.baselines: copy
the same-time or the same-view conditioning frame, their per-grid oracle, the
background; PSNR on whole frames and on the object's pixels, SSIM), and every
variant minus the best of them, paired per grid: an ordering between variants
that all sit below the baselines says little.

The paper's ordering is soft > hard > sequential, and soft > soft w/o Obj on
objects. At CPU scale the table reports whatever comes out.

Cost: the defaults took 17 minutes wall (1,712 CPU-seconds: 2 cores, nothing else
heavy running) on the 2-core CPU machine, of which base 400 steps and data ~2 min,
each of the 12 sync trainings + evaluations 50-150 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.variants import VARIANT_NAMES, get_variant

# Every 4D variant of the registry (model.variants), plus the paper's "w/o Obj" row.
SYNC_OF = {**{name: name for name in VARIANT_NAMES}, "soft_no_objects": "soft"}
VARIANTS = tuple(SYNC_OF)
DIFFERENCES = (
    ("soft", "hard"),
    ("hard", "sequential"),
    ("soft", "soft_no_objects"),
    ("fused", "soft"),
)
NOISE_LEVELS = (0.25, 0.5, 0.75)  # flow times of the held-out loss
# name -> (base preset, overrides): every preset has >= 6 layers (depth-dependent sync)
PRESETS = {"tiny6": ("tiny", {"depth": 6}), "small": ("small", {}), "paper": ("paper", {})}
HIGHER_IS_BETTER = {"psnr": True, "psnr_object": True, "ssim": True, "lpips": False,
                    "flow_loss": False, "consistency": True}  # fmt: skip
BASELINE_METRICS = ("psnr", "psnr_object", "ssim")  # what a baseline row has
BASELINES_ROWS = ("same_time", "same_view", "oracle", "background")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="tiny6",
        help="Model size: tiny6 (tiny's width, 6 layers; CPU) | small | paper",
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="Sync-training seeds (each trains every variant)",
    )
    p.add_argument(
        "--sampling-seeds",
        type=int,
        nargs="+",
        default=[0, 1],
        help="Seeds of the generation noise",
    )
    p.add_argument("--home", default=None, help="Data root (default: a new temporary folder)")
    p.add_argument("--views", type=int, default=4, help="V of every grid")
    p.add_argument("--times", type=int, default=4, help="T of every grid")
    p.add_argument("--pseudo4d", type=int, default=48, help="Pseudo-4D training grids")
    p.add_argument("--objects", type=int, default=32, help="Rendered training objects")
    p.add_argument(
        "--heldout", type=int, default=64, help="Rendered held-out objects (the experiment: 64)"
    )
    p.add_argument("--base-steps", type=int, default=400, help="Base model training steps")
    p.add_argument("--pseudo4d-steps", type=int, default=100, help="Sync phase 1 steps")
    p.add_argument("--objects-steps", type=int, default=60, help="Sync phase 2 steps")
    p.add_argument("--batch-size", type=int, default=4, help="Batch size of every stage")
    p.add_argument("--lr", type=float, default=1e-3, help="Peak learning rate of every stage")
    p.add_argument(
        "--timestep-sampler",
        default="uniform",
        choices=["uniform", "logit_normal"],
        help="Training noise levels (uniform: small models then learn the pure-noise end, "
        "where sampling starts)",
    )
    p.add_argument("--sample-steps", type=int, default=10, help="Euler steps at evaluation")
    p.add_argument("--eval-batch", type=int, default=16, help="Held-out grids per forward")
    p.add_argument("--min-side", type=int, default=96, help="Frame upscale for the features")
    p.add_argument("--bootstrap", type=int, default=10_000, help="Bootstrap resamples")
    p.add_argument("--json", default=None, help="Also write the results to this JSON file")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--fused-finetune",
        default="full",
        choices=["full", "lora"],
        help="How the fused variant trains its base",
    )
    args = p.parse_args(argv)
    for name in ("views", "times"):
        if getattr(args, name) < 2:
            p.error(f"--{name} must be >= 2")
    for name in ("pseudo4d", "objects", "heldout", "batch_size", "sample_steps", "eval_batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.base_steps < 1 or args.pseudo4d_steps + args.objects_steps < 1:
        p.error("--base-steps and the sync steps must be > 0")
    if len(set(args.seeds)) != len(args.seeds) or len(set(args.sampling_seeds)) != len(
        args.sampling_seeds
    ):
        p.error("--seeds and --sampling-seeds must not repeat")
    return args


def base_config(args):
    from model.config import base_preset

    name, overrides = PRESETS[args.preset]
    cfg = base_preset(name, **overrides)
    if max(args.views, args.times) > cfg.max_frames:
        raise SystemExit(f"--views/--times exceed the preset's max_frames {cfg.max_frames}")
    return cfg


# ------------------------------------------------------------------ data
@dataclass
class Data:
    pseudo4d: tuple  # SampleRefs of the pseudo-4D training grids
    objects: tuple  # SampleRefs of the rendered training objects
    heldout: np.ndarray  # uint8 [N, V, T, H, W, 3], rendered objects never trained on


def _sample_ref(path: Path, kind: str, grid: np.ndarray):
    from core.io import sha256_file
    from tasks.train.data import SampleRef

    V, T, H, W, _ = grid.shape
    return SampleRef(sample_id=path.stem, kind=kind, mode=None, v=V, t=T, h=H, w=W,
                     path=str(path), sha256=sha256_file(path))  # fmt: skip


def pseudo4d_grids(args, cfg, root: Path) -> tuple:
    """Pseudo-4D grids: a synthetic video, warped along a random camera path per grid."""
    from core.io import save_npz_atomic
    from synthetic.videos import render_frame
    from tasks.videos.pseudo4d import AffineBounds, pseudo4d_grid

    refs, bounds = [], AffineBounds()
    h, w = 2 * cfg.height, 2 * cfg.width  # room for the zoom, then area-resized by the loader
    for i in range(args.pseudo4d):
        start = 7 * i
        clip = np.stack([render_frame(start + 3 * t, h, w, seed=i) for t in range(args.times)])
        grid, _ = pseudo4d_grid(clip, args.views, bounds, seed=i)  # (V, T, h, w, 3)
        path = root / "pseudo4d" / f"pseudo4d_{i:04d}.npz"
        save_npz_atomic(path, grid=grid)
        refs.append(_sample_ref(path, "grid_pseudo4d", grid))
    return tuple(refs)


def rendered_grids(args, cfg, root: Path) -> tuple[tuple, np.ndarray]:
    """Procedural animated objects rendered to grids: training refs, held-out array."""
    from core.io import save_npz_atomic
    from renderers.job import RenderSpec, render_object
    from renderers.render import GridRenderer
    from synthetic.objects import write_demo_objects

    spec = RenderSpec(views=args.views, times=args.times, height=cfg.height, width=cfg.width)
    count = args.objects + args.heldout
    glbs = write_demo_objects(root / "objects", count=count, seed=0)
    renderer = GridRenderer()
    refs, held = [], []
    try:
        for i, glb in enumerate(glbs):
            rgb = render_object(glb, spec, renderer).rgb  # (V, T, H, W, 3) uint8
            if i >= args.objects:
                held.append(rgb)
                continue
            path = root / "grids" / f"{glb.stem}.npz"
            save_npz_atomic(path, rgb=rgb)
            refs.append(_sample_ref(path, "grid_objaverse", rgb))
    finally:
        renderer.close()
    return tuple(refs), np.stack(held)


# ------------------------------------------------------------------ training
def engine_config(args, stage: str, seed: int):
    from tasks.train.engine import EngineConfig

    return EngineConfig(stage=stage, batch_size=args.batch_size, lr=args.lr, warmup_steps=20,
                        ema_decay=0.99, seed=seed, timestep_sampler=args.timestep_sampler,
                        checkpoint_every=1_000_000, keep_last=1,
                        log_every=1_000_000, loader_workers=0)  # fmt: skip


def run_engine(args, model, stage: str, seed: int, phases: list, run_dir: Path) -> dict:
    from tasks.train.data import StreamDataset
    from tasks.train.engine import Engine, Phase

    built = [Phase(name, steps, StreamDataset(refs, spec), name)
             for name, steps, refs, spec in phases if steps > 0]  # fmt: skip
    engine = Engine(engine_config(args, stage, seed), model, built, run_dir, meta={},
                    device=args.device, resume=False)  # fmt: skip
    return engine.fit()


def train_base(args, cfg, data: Data, root: Path):
    from model.dit import DiT
    from tasks.train.data import ItemSpec

    torch.manual_seed(0)
    model = DiT(cfg)
    frames = min(args.views, args.times)
    spec = ItemSpec(stage="base", height=cfg.height, width=cfg.width, frames=frames, seed=0)
    phases = [("clips", args.base_steps, data.pseudo4d + data.objects, spec)]
    run_engine(args, model, "base", 0, phases, root / "runs" / "base")
    return model.eval()


def train_sync(args, base, variant: str, seed: int, data: Data, root: Path):
    """One 4D model around a copy of ``base``; the same steps for every variant."""
    import copy

    from model.config import FourDConfig
    from model.fourd import build_fourd
    from tasks.train.data import ItemSpec

    torch.manual_seed(seed)
    sync = SYNC_OF[variant]
    finetune = args.fused_finetune if get_variant(sync).finetunes_base else ""
    cfg = FourDConfig(base=base.cfg, sync=sync, finetune=finetune)
    model = build_fourd(cfg, copy.deepcopy(base))
    spec = ItemSpec(stage="sync", height=base.cfg.height, width=base.cfg.width, seed=seed)
    phase2 = data.pseudo4d if variant == "soft_no_objects" else data.objects
    phases = [("pseudo4d", args.pseudo4d_steps, data.pseudo4d, spec),
              ("objects", args.objects_steps, phase2, spec)]  # fmt: skip
    summary = run_engine(args, model, "sync", seed, phases, root / "runs" / f"{variant}-{seed}")
    return model.eval(), summary


def trainable(model) -> int:
    return sum(p.numel() for p in model.trainable_parameters())


# ------------------------------------------------------------------ evaluation
def to_model(grids: np.ndarray, device) -> torch.Tensor:
    """uint8 ``[N, V, T, H, W, 3]`` -> float ``[N, V, T, 3, H, W]`` in [-1, 1]."""
    x = torch.from_numpy(grids).to(device).movedim(-1, -3).float()
    return x / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float ``[N, V, T, 3, H, W]`` in [-1, 1] -> uint8 ``[N, V, T, H, W, 3]``."""
    y = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return y.movedim(-3, -1).cpu().numpy()


def grid_noise(shape, index: int, salt: str, device) -> torch.Tensor:
    """Noise of held-out grid ``index``: a function of (index, salt), not of the batching."""
    digest = hashlib.sha256(f"{salt}/{index}".encode()).digest()
    gen = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return torch.randn(shape, generator=gen).to(device)


def chunks(n: int, size: int):
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


@torch.no_grad()
def generate(model, gt: torch.Tensor, steps: int, seed: int, batch: int) -> np.ndarray:
    """Every held-out grid from its first row and column: uint8 ``[N, V, T, H, W, 3]``."""
    from model.flow import euler_sample
    from model.masking import grid_condition_mask

    out = []
    for idx in chunks(gt.shape[0], batch):
        x0 = gt[idx.start : idx.stop]
        known = grid_condition_mask(len(idx), *x0.shape[1:3], device=x0.device)
        noise = torch.stack([grid_noise(x0.shape[1:], i, f"sample/{seed}", x0.device) for i in idx])
        out.append(to_uint8(euler_sample(model, noise, steps=steps, x_known=x0, known=known)))
    return np.concatenate(out)


@torch.no_grad()
def heldout_flow_loss(model, gt: torch.Tensor, batch: int) -> np.ndarray:
    """Per grid: masked velocity MSE over the generated frames, mean over NOISE_LEVELS; ``[N]``."""
    from model.flow import noisy_input, velocity_target
    from model.masking import grid_condition_mask

    out = []
    for idx in chunks(gt.shape[0], batch):
        x0 = gt[idx.start : idx.stop]
        known = grid_condition_mask(len(idx), *x0.shape[1:3], device=x0.device)
        unknown = (~known)[..., None, None, None].float()  # (b, V, T, 1, 1, 1)
        per_level = []
        for level in NOISE_LEVELS:
            noise = torch.stack([grid_noise(x0.shape[1:], i, f"loss/{level}", x0.device)
                                 for i in idx])  # fmt: skip
            s = torch.full((len(idx),), level, device=x0.device)
            err = model(noisy_input(x0, noise, s, known), s, known) - velocity_target(x0, noise)
            err = (err.square() * unknown).flatten(1).sum(1)
            per_level.append(err / (unknown.expand_as(x0).flatten(1).sum(1)))
        out.append(torch.stack(per_level).mean(0).cpu())
    return torch.cat(out).numpy()


@torch.no_grad()
def stream_divergence(model, gt: torch.Tensor, batch: int) -> np.ndarray:
    """Per layer: mean over grids of ``|x_v - x_t| / |x_v|`` after the layer's sync; ``[depth]``."""
    from model.flow import noisy_input
    from model.masking import grid_condition_mask

    sums = np.zeros(len(model.sync_layers))

    def observe(i, x_view, x_time):
        rel = (x_view - x_time).flatten(1).norm(dim=1) / x_view.flatten(1).norm(dim=1)
        sums[i] += float(rel.sum())

    for idx in chunks(gt.shape[0], batch):
        x0 = gt[idx.start : idx.stop]
        known = grid_condition_mask(len(idx), *x0.shape[1:3], device=x0.device)
        noise = torch.stack([grid_noise(x0.shape[1:], i, "divergence", x0.device) for i in idx])
        s = torch.full((len(idx),), 0.5, device=x0.device)
        model.stream_velocities(noisy_input(x0, noise, s, known), s, known, observe=observe)
    return sums / gt.shape[0]


def lpips_scorer():
    """``(score(pred, gt) -> [N] or None, note)``: LPIPS from local weights, else skipped."""
    from tasks.evaluation.perceptual import load_lpips, lpips_distances
    from tasks.evaluation.weights import metric_status

    weights, skipped = metric_status("lpips")
    if weights is None:
        return None, skipped
    net = load_lpips(weights)
    return (lambda a, b: lpips_distances(net, a, b)), f"lpips: weights at {weights}"


def grid_scores(pred: np.ndarray, gt: np.ndarray, lpips, min_side: int) -> dict[str, np.ndarray]:
    """Per grid over the generated frames: PSNR (whole and on the object's pixels) and SSIM
    as tasks.baselines scores them, LPIPS (if weights) and consistency."""
    from tasks.baselines import grid_scores as scored
    from tasks.metrics import grid_consistency

    unknown = np.ones(gt.shape[1:3], bool)
    unknown[0, :] = unknown[:, 0] = False
    out = {m: [] for m in (*BASELINE_METRICS, "consistency") + (("lpips",) if lpips else ())}
    for p, g in zip(pred, gt, strict=True):
        row = scored(p, g)["model"]
        for m in BASELINE_METRICS:
            out[m].append(row[m])
        c = grid_consistency(p, "sift", min_side)
        out["consistency"].append(
            0.5 * (c["consistency_freeze_time"] + c["consistency_fixed_view"])
        )
        if lpips:
            out["lpips"].append(float(np.mean(lpips(p[unknown], g[unknown]))))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def evaluate(args, model, gt_t: torch.Tensor, gt: np.ndarray, lpips) -> dict[str, np.ndarray]:
    """``{metric: [sampling seeds, N]}`` plus ``flow_loss [1, N]``."""
    per_seed = []
    for seed in args.sampling_seeds:
        pred = generate(model, gt_t, args.sample_steps, seed, args.eval_batch)
        per_seed.append(grid_scores(pred, gt, lpips, args.min_side))
    out = {m: np.stack([s[m] for s in per_seed]) for m in per_seed[0]}
    out["flow_loss"] = heldout_flow_loss(model, gt_t, args.eval_batch)[None]
    return out


def baseline_scores(gt: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """``{baseline: {metric: [N]}}``: the trivial baselines on every held-out grid."""
    from tasks.baselines import BASELINES
    from tasks.baselines import grid_scores as scored

    tables = [scored(g, g) for g in gt]  # the model row is unused here
    return {b: {m: np.array([t[b][m] for t in tables]) for m in BASELINE_METRICS}
            for b in BASELINES}  # fmt: skip


# ------------------------------------------------------------------ statistics
def paired_interval(diffs: np.ndarray, resamples: int) -> tuple[float, float, float]:
    """Mean per-grid difference and its paired bootstrap 95% interval (percentile)."""
    from scipy.stats import bootstrap

    res = bootstrap((diffs,), np.mean, n_resamples=resamples, confidence_level=0.95,
                    method="percentile", rng=np.random.default_rng(0))  # fmt: skip
    ci = res.confidence_interval
    return float(diffs.mean()), float(ci.low), float(ci.high)


def per_grid(results: dict, variant: str, metric: str) -> np.ndarray:
    """``[N]``: one variant's metric per grid, averaged over training and sampling seeds."""
    return np.mean([r[variant][metric].mean(0) for r in results.values()], axis=0)


def seed_spread(results: dict, variant: str, metric: str) -> float:
    """Standard deviation over training seeds of the held-out mean."""
    means = [r[variant][metric].mean() for r in results.values()]
    return float(np.std(means, ddof=1)) if len(means) > 1 else float("nan")


def summarise(args, results: dict, params: dict, divergence: dict, reference: float,
              baselines: dict) -> dict:  # fmt: skip
    metrics = [m for m in HIGHER_IS_BETTER if m in next(iter(results.values()))["soft"]]
    table = {v: {"trainable_parameters": params[v]} for v in VARIANTS}
    for v in VARIANTS:
        for m in metrics:
            table[v][m] = float(per_grid(results, v, m).mean())
            table[v][f"{m}_seed_sd"] = seed_spread(results, v, m)
    for b, values in baselines.items():
        table[b] = {m: float(np.nanmean(values[m])) for m in BASELINE_METRICS}
    diffs = {}
    for v in VARIANTS:  # every variant against the best trivial baseline, per metric
        for m in BASELINE_METRICS:
            best = max(baselines, key=lambda b: table[b][m])
            mean, lo, hi = paired_interval(per_grid(results, v, m) - baselines[best][m],
                                           args.bootstrap)  # fmt: skip
            verdict = "beats it" if lo > 0 else "worse" if hi < 0 else "no difference"
            diffs[f"{v} - {best}/{m}"] = {"mean": mean, "low": lo, "high": hi,
                                          "verdict": verdict}  # fmt: skip
    for a, b in DIFFERENCES:
        for m in metrics:
            mean, lo, hi = paired_interval(
                per_grid(results, a, m) - per_grid(results, b, m), args.bootstrap
            )
            better = lo > 0 if HIGHER_IS_BETTER[m] else hi < 0
            worse = hi < 0 if HIGHER_IS_BETTER[m] else lo > 0
            verdict = f"{a} better" if better else f"{b} better" if worse else "no difference"
            diffs[f"{a} - {b}/{m}"] = {"mean": mean, "low": lo, "high": hi, "verdict": verdict}
    return {"table": table, "differences": diffs, "divergence": divergence,
            "consistency_ground_truth": reference}  # fmt: skip


def print_report(args, summary: dict, notes: list[str]) -> None:
    table, metrics = (
        summary["table"],
        [m for m in HIGHER_IS_BETTER if m in summary["table"]["soft"]],
    )
    arrows = {m: "↑" if HIGHER_IS_BETTER[m] else "↓" for m in metrics}
    head = f"{'variant':<16}{'trainable':>11}" + "".join(f"{m + arrows[m]:>20}" for m in metrics)
    print(head + "\n" + "-" * len(head))
    for v in VARIANTS:
        row = table[v]
        cells = []
        for m in metrics:
            sd = row[f"{m}_seed_sd"]
            cells.append(f"{row[m]:.4f}" + (f" ±{sd:.4f}" if np.isfinite(sd) else ""))
        print(f"{v:<16}{row['trainable_parameters']:>11,}" + "".join(f"{c:>20}" for c in cells))
    for b in BASELINES_ROWS:  # what needs no model: the bar every variant must clear
        row = table[b]
        print(f"{b:<16}{'0':>11}" + "".join(
            f"{row[m]:>20.4f}" if m in row else f"{'':>20}" for m in metrics))  # fmt: skip
    print(f"{'ground truth':<16}{'':>11}" + "".join(
        f"{summary['consistency_ground_truth']:>20.4f}" if m == "consistency" else f"{'':>20}"
        for m in metrics))  # fmt: skip
    print("(± = standard deviation of the held-out mean over training seeds)")
    print("\npaired per-grid differences, mean [bootstrap 95% interval]")
    for key, d in summary["differences"].items():
        print(f"  {key:<34} {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]  {d['verdict']}")
    print("\nstream divergence |x_v - x_t| / |x_v| after each layer's sync (s = 0.5)")
    for name, values in summary["divergence"].items():
        print(f"  {name:<26}" + " ".join(f"{v:.3f}" for v in values))
    for note in notes:
        print(note)


def report(args, results, params, divergence, div, reference, n, cfg, lpips_note,
           baselines) -> dict:  # fmt: skip
    """Print the tables of the seeds done so far (and write ``--json``)."""
    divergence = {**divergence, **{f"{v}, trained": np.mean(r, axis=0) for v, r in div.items()}}
    summary = summarise(args, results, params, {k: v.tolist() for k, v in divergence.items()},
                        reference, baselines)  # fmt: skip
    print(f"\n{n} held-out grids {args.views}x{args.times} at {cfg.height}x{cfg.width}; "
          f"preset {args.preset}; base {args.base_steps} steps; sync {args.pseudo4d_steps} "
          f"pseudo-4D + {args.objects_steps} object steps, batch {args.batch_size}; training "
          f"seeds {list(results)}; sampling seeds {args.sampling_seeds}; {args.sample_steps} "
          f"Euler steps; flow loss at s = {NOISE_LEVELS}")  # fmt: skip
    print_report(args, summary, [lpips_note or ""])
    if args.json:
        Path(args.json).write_text(
            json.dumps({"args": vars(args), "seeds_done": list(results), **summary}, indent=1)
        )
    return summary


# ------------------------------------------------------------------ main
def setup_home(home: str | None) -> Path:
    root = Path(home or tempfile.mkdtemp(prefix="fourreal-ablation-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["FOURREAL_HOME"] = str(root)
    from core.env import configure_environment

    configure_environment()  # e.g. the OpenGL platform of the renderer
    return root


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    root = setup_home(args.home)
    cfg = base_config(args)
    tick = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal tick
        print(f"  {what}: {time.perf_counter() - tick:.0f}s", flush=True)
        tick = time.perf_counter()

    print(f"data root {root}; preset {args.preset} (depth {cfg.depth}, width {cfg.dim}, "
          f"{cfg.height}x{cfg.width}); grids {args.views}x{args.times}; device {args.device}")  # fmt: skip
    pseudo = pseudo4d_grids(args, cfg, root)
    objects, heldout = rendered_grids(args, cfg, root)
    data = Data(pseudo4d=pseudo, objects=objects, heldout=heldout)
    lap(f"1. data: {len(pseudo)} pseudo-4D + {len(objects)} rendered training grids, "
        f"{len(heldout)} held-out rendered grids")  # fmt: skip
    base = train_base(args, cfg, data, root)
    lap(f"2. base: {args.base_steps} steps")
    gt_t = to_model(heldout, args.device)
    baselines = baseline_scores(heldout)
    lpips, lpips_note = lpips_scorer()
    lpips_note = None if lpips else lpips_note
    from tasks.metrics import grid_consistency

    reference = float(np.mean([
        0.5 * sum(grid_consistency(g, "sift", args.min_side)[k]
                  for k in ("consistency_freeze_time", "consistency_fixed_view"))
        for g in heldout]))  # fmt: skip
    from model.config import FourDConfig
    from model.fourd import FourDModel

    untrained = FourDModel(base, FourDConfig(base=cfg, sync="soft")).to(args.device).eval()
    divergence = {"soft, untrained": stream_divergence(untrained, gt_t, args.eval_batch)}
    results, params, div = {}, {}, {"soft": [], "soft_no_objects": []}
    for seed in args.seeds:
        results[seed] = {}
        for variant in VARIANTS:
            model, summary = train_sync(args, base, variant, seed, data, root)
            params[variant] = summary["trainable_parameters"]
            assert params[variant] == trainable(model)
            results[seed][variant] = evaluate(args, model, gt_t, heldout, lpips)
            if variant in div:
                div[variant].append(stream_divergence(model, gt_t, args.eval_batch))
            lap(f"3-4. seed {seed} {variant}: trained {summary['final_step']} steps, evaluated")
        # after every training seed, the table so far: a run cut short still reports
        report(args, results, params, divergence, div, reference, len(heldout), cfg, lpips_note,
               baselines)  # fmt: skip
    total = time.perf_counter() - t_start
    print(f"total {total:.0f}s on {args.device} ({torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
