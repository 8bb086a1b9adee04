"""Does training learn? The whole chain at CPU scale, scored on objects it never saw.

    .venv/bin/python -m bench.learn                    # defaults: 22 min on 2 idle CPU cores
    .venv/bin/python -m bench.learn --device cuda      # the same experiment on a GPU
    .venv/bin/python -m bench.learn --objects 12 --heldout 4 --pseudo4d 8 --base-steps 20 \
        --sync-steps 10 10 --upsampler-steps 10        # the smoke test's size (seconds)

nanoGPT earns trust with a character model that reaches a known validation loss in
minutes on a CPU; this is the same for the 4D pipeline:

1. **data**: procedural animated objects (synthetic.objects: jointed arms, skinned
   tubes, morphing textured blobs, every one with its own shapes, colours and motion)
   rendered by the real renderer at 4x the model resolution, ``--objects`` to train
   and ``--heldout`` never trained on (different GLBs: held out *by object*), plus
   pseudo-4D grids (synthetic videos warped along random affine camera paths).
2. **base** DiT trained by the training engine on freeze-time and fixed-view clips
   of the training grids (both contexts), with a validation loss on held-out
   objects' clips every ``--eval-every`` steps.
3. **4D model** (``--sync``, soft by default) around the frozen base: pseudo-4D then
   object grids, with the held-out grids' masked flow loss as the validation curve.
4. **upsampler** on the training objects' high-resolution clips.
5. **scores on the held-out objects**: every grid generated from its ``grid[0, :]``
   and ``grid[:, 0]``; PSNR / SSIM over the generated frames, whole and on the
   object's pixels (from the renderer's alpha), beside the trivial baselines
   (tasks.baselines: same time, same view, their per-grid oracle, the
   background) and the untrained 4D model (the frozen base on each stream), with
   paired bootstrap intervals of model minus the best baseline. The upsampler is
   scored against bicubic upsampling of the same low-resolution frames.

Output (``--out``, default a new temporary folder): ``curves.png`` (training and
validation losses of the three stages), ``result.json``; the last stdout line is
the same JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tasks.train.callbacks import Callback

NOISE_LEVELS = (0.25, 0.5, 0.75)  # flow times of every validation loss
# The base sees conditional clips mostly: in the 4D model each stream is a video with
# its first frame given (extension), which the paper's unconditional-heavy mix rarely shows.
BASE_MASKS = {"none": 0.1, "random": 0.0, "interpolate": 0.1, "extend": 0.8}
# 4D masks: the inference cross most of the time, and every other shape of the paper.
GRID_MASKS = {"row_and_column": 0.6, "first_row": 0.1, "first_column": 0.1,
              "random_lines": 0.1, "single_frame": 0.05, "unconditional": 0.05}  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--out", default=None, help="Output folder (default: a new temporary one)")
    p.add_argument("--views", type=int, default=4, help="V of every grid")
    p.add_argument("--times", type=int, default=4, help="T of every grid")
    p.add_argument("--size", type=int, default=16, help="Square frame side of the model")
    p.add_argument("--objects", type=int, default=240, help="Rendered training objects")
    p.add_argument("--heldout", type=int, default=48, help="Rendered held-out objects")
    p.add_argument("--pseudo4d", type=int, default=64, help="Pseudo-4D training grids")
    p.add_argument("--dim", type=int, default=128, help="Base token width")
    p.add_argument("--depth", type=int, default=4, help="Base blocks")
    p.add_argument("--heads", type=int, default=4, help="Attention heads")
    p.add_argument("--patch", type=int, default=4, help="Patch side")
    p.add_argument("--rope-theta", type=float, default=10000.0, help="RoPE base period")
    p.add_argument("--sync", default="soft", help="The 4D variant (hard | soft | sequential)")
    p.add_argument("--base-steps", type=int, default=5000, help="Base training steps")
    p.add_argument("--base-batch", type=int, default=16, help="Clips per base step")
    p.add_argument("--sync-steps", type=int, nargs=2, default=[200, 800],
                   metavar=("PSEUDO4D", "OBJECTS"), help="4D steps per phase")  # fmt: skip
    p.add_argument("--sync-batch", type=int, default=8, help="Grids per 4D step")
    p.add_argument("--upsampler-steps", type=int, default=600, help="Upsampler steps")
    p.add_argument("--upsampler-batch", type=int, default=2, help="Clips per upsampler step")
    p.add_argument("--lr", type=float, default=1e-3, help="Peak learning rate of every stage")
    p.add_argument(
        "--loss-weighting",
        default="x0",
        choices=["x0", "velocity"],
        help="Per noise level: the clean frames' error (x0) or the velocity's",
    )
    p.add_argument(
        "--timestep-sampler",
        default="uniform",
        choices=["uniform", "logit_normal"],
        help="Training noise levels",
    )
    p.add_argument(
        "--timestep-shift",
        type=float,
        default=3.0,
        help="Training times shifted like sampling's shift (> 1: more noise)",
    )
    p.add_argument("--prediction", default="x0", choices=["x0", "velocity"],
                   help="What the networks' heads output")  # fmt: skip
    p.add_argument("--upsampler-direct", action="store_true",
                   help="The upsampler's x0 head predicts the frames, not a residual over "
                        "bilinear upsampling")  # fmt: skip
    p.add_argument("--eval-every", type=int, default=250, help="Steps between validation losses")
    p.add_argument("--sample-steps", type=int, default=20, help="Euler steps of generation")
    p.add_argument("--bootstrap", type=int, default=10_000, help="Bootstrap resamples")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)
    for name in ("views", "times"):
        if getattr(args, name) < 2:
            p.error(f"--{name} must be >= 2")
    for name in ("objects", "heldout", "pseudo4d", "base_steps", "sync_batch", "base_batch",
                 "upsampler_steps", "upsampler_batch", "eval_every", "sample_steps"):  # fmt: skip
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if min(args.sync_steps) < 0 or sum(args.sync_steps) < 1:
        p.error("--sync-steps must be >= 0 each and not both 0")
    if args.size % args.patch or args.dim % args.heads:
        p.error("--size must be divisible by --patch and --dim by --heads")
    return args


# ------------------------------------------------------------------ data
@dataclass
class Data:
    pseudo4d: tuple  # SampleRefs of the pseudo-4D training grids
    objects: tuple  # SampleRefs of the rendered training grids (high resolution)
    heldout_high: np.ndarray  # uint8 [N, V, T, 4s, 4s, 3]: never trained on
    heldout_alpha: np.ndarray  # uint8 [N, V, T, 4s, 4s]


def render_objects(args, root: Path) -> tuple[tuple, np.ndarray, np.ndarray]:
    """Procedural animated GLBs rendered at 4x the model size: training refs, held-out arrays."""
    from bench.ablation import _sample_ref
    from core.io import save_npz_atomic
    from renderers.camera import CameraArc
    from renderers.job import RenderSpec, render_object
    from renderers.render import GridRenderer
    from synthetic.objects import write_demo_objects

    side = 4 * args.size
    spec = RenderSpec(views=args.views, times=args.times, height=side, width=side,
                      arc=CameraArc(azimuth_span_deg=60.0))  # fmt: skip
    # One seed for the training GLBs, another for the held-out ones: different objects.
    train = write_demo_objects(root / "objects" / "train", count=args.objects, seed=1)
    held = write_demo_objects(root / "objects" / "heldout", count=args.heldout, seed=2)
    renderer = GridRenderer()
    refs, rgb, alpha = [], [], []
    try:
        for glb in train:
            grid = render_object(glb, spec, renderer)
            path = root / "grids" / f"{glb.stem}.npz"
            save_npz_atomic(path, rgb=grid.rgb)
            refs.append(_sample_ref(path, "grid_objaverse", grid.rgb))
        for glb in held:
            grid = render_object(glb, spec, renderer)
            rgb.append(grid.rgb)
            alpha.append(grid.alpha)
    finally:
        renderer.close()
    return tuple(refs), np.stack(rgb), np.stack(alpha)


def pseudo4d_grids(args, root: Path) -> tuple:
    from bench.ablation import pseudo4d_grids as make

    size = argparse.Namespace(height=args.size, width=args.size)
    return make(argparse.Namespace(pseudo4d=args.pseudo4d, times=args.times, views=args.views),
                size, root)  # fmt: skip


def downsample(frames: np.ndarray, side: int) -> np.ndarray:
    """uint8 ``[..., h, w, 3]`` -> ``[..., side, side, 3]`` by area (the loader's resize)."""
    from tasks.train.data import resample_frames

    return resample_frames(np.ascontiguousarray(frames), side, side)


# ------------------------------------------------------------------ validation
def to_model(grids: np.ndarray, device) -> torch.Tensor:
    """uint8 ``[..., H, W, 3]`` -> float ``[..., 3, H, W]`` in [-1, 1]."""
    return (
        torch.from_numpy(np.ascontiguousarray(grids)).to(device).movedim(-1, -3).float() / 127.5 - 1
    )


def fixed_noise(shape, index: int, salt: str, device) -> torch.Tensor:
    from bench.ablation import grid_noise

    return grid_noise(shape, index, salt, device)


@torch.no_grad()
def masked_loss(velocity, x0: torch.Tensor, known: torch.Tensor, salt: str) -> float:
    """Mean masked flow loss over NOISE_LEVELS with fixed noise (a low-variance curve)."""
    from model.flow import masked_mse, noisy_input, velocity_target

    total = 0.0
    for level in NOISE_LEVELS:
        noise = torch.stack([fixed_noise(x0.shape[1:], i, f"{salt}/{level}", x0.device)
                             for i in range(x0.shape[0])])  # fmt: skip
        s = torch.full((x0.shape[0],), level, device=x0.device)
        pred = velocity(noisy_input(x0, noise, s, known), s, known)
        total += float(masked_mse(pred, velocity_target(x0, noise), known, per_sample=True))
    return total / len(NOISE_LEVELS)


class Validator(Callback):
    """Engine callback: every ``every`` steps, the held-out loss of the model being trained."""

    def __init__(self, model, loss_fn, every: int):
        self.model, self.loss_fn, self.every = model, loss_fn, every
        self.curve: list[tuple[int, float]] = []

    def on_start(self, info):
        self.curve.append((info["start_step"], self._loss()))

    def on_log(self, step, metrics):
        if step % self.every == 0:
            self.curve.append((step, self._loss()))

    def on_end(self, summary):
        if not self.curve or self.curve[-1][0] != summary["final_step"]:
            self.curve.append((summary["final_step"], self._loss()))

    def _loss(self) -> float:
        was = self.model.training
        self.model.eval()
        try:
            return self.loss_fn(self.model)
        finally:
            self.model.train(was)


def base_validation(clips: torch.Tensor, contexts: torch.Tensor):
    """Held-out clips ``[N, F, 3, H, W]``, first frame known (the 4D model's use of the base)."""
    known = torch.zeros(clips.shape[:2], dtype=torch.bool, device=clips.device)
    known[:, 0] = True

    def loss(model) -> float:
        return masked_loss(lambda x, s, k: model(x, s, contexts, k), clips, known, "base")

    return loss


def grid_validation(grids: torch.Tensor):
    """Held-out grids ``[N, V, T, 3, H, W]`` with the inference mask."""
    from model.masking import grid_condition_mask

    known = grid_condition_mask(grids.shape[0], *grids.shape[1:3], device=grids.device)
    return lambda model: masked_loss(model, grids, known, "grid")


def upsampler_validation(high: torch.Tensor):
    """Held-out high-resolution clips ``[N, F, 3, H, W]``: the upsampler's loss, fixed draws."""
    from model.upsampler import upsampler_loss

    def loss(model) -> float:
        total = 0.0
        for level in NOISE_LEVELS:
            n = high.shape[0]
            noise = torch.stack([fixed_noise(high.shape[1:], i, f"up/{level}", high.device)
                                 for i in range(n)])  # fmt: skip
            s = torch.full((n,), level, device=high.device)
            aug = torch.full((n,), 0.05, device=high.device)
            with torch.no_grad():
                total += float(upsampler_loss(model, high, s=s, noise=noise, aug=aug,
                                              aug_noise=torch.zeros_like(high), per_sample=True))  # fmt: skip
        return total / len(NOISE_LEVELS)

    return loss


# ------------------------------------------------------------------ training
def train(args, model, stage: str, phases: list, run_dir: Path, validator) -> dict:
    from tasks.train.data import StreamDataset
    from tasks.train.engine import Engine, EngineConfig, Phase

    batch = {"base": args.base_batch, "sync": args.sync_batch,
             "upsampler": args.upsampler_batch}[stage]  # fmt: skip
    cfg = EngineConfig(stage=stage, batch_size=batch, lr=args.lr, warmup_steps=50,
                       ema_decay=0.99, seed=0, timestep_sampler=args.timestep_sampler,
                       loss_weighting=args.loss_weighting, timestep_shift=args.timestep_shift,
                       checkpoint_every=1_000_000, keep_last=1, log_every=10,
                       loader_workers=0)  # fmt: skip
    built = [Phase(name, steps, StreamDataset(refs, spec), name)
             for name, steps, refs, spec in phases if steps > 0]  # fmt: skip
    engine = Engine(cfg, model, built, run_dir, meta={}, device=args.device, resume=False,
                    callbacks=[validator])  # fmt: skip
    return engine.fit()


def train_history(run_dir: Path) -> list[tuple[int, float]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


def train_base(args, cfg, data: Data, val_clips, val_ctx, root: Path):
    from model.dit import DiT
    from tasks.train.data import ItemSpec

    torch.manual_seed(0)
    model = DiT(cfg)
    frames = min(args.views, args.times)
    spec = ItemSpec(stage="base", height=args.size, width=args.size, frames=frames, seed=0,
                    base_masks=tuple(BASE_MASKS.items()))  # fmt: skip
    validator = Validator(model, base_validation(val_clips, val_ctx), args.eval_every)
    phases = [("clips", args.base_steps, data.pseudo4d + data.objects, spec)]
    summary = train(args, model, "base", phases, root / "runs" / "base", validator)
    return model.eval(), summary, validator.curve


def train_fourd(args, base, data: Data, val_grids, root: Path):
    import copy

    from model.config import FourDConfig
    from model.fourd import FourDModel
    from tasks.train.data import ItemSpec

    torch.manual_seed(0)
    model = FourDModel(copy.deepcopy(base), FourDConfig(base=base.cfg, sync=args.sync))
    spec = ItemSpec(stage="sync", height=args.size, width=args.size, seed=0,
                    grid_masks=tuple(GRID_MASKS.items()))  # fmt: skip
    validator = Validator(model, grid_validation(val_grids), args.eval_every)
    phases = [("pseudo4d", args.sync_steps[0], data.pseudo4d, spec),
              ("objects", args.sync_steps[1], data.objects, spec)]  # fmt: skip
    summary = train(args, model, "sync", phases, root / "runs" / "sync", validator)
    return model.eval(), summary, validator.curve


def train_upsampler(args, data: Data, val_high, root: Path):
    from model.config import UpsamplerConfig
    from model.upsampler import Upsampler
    from tasks.train.data import ItemSpec

    torch.manual_seed(0)
    cfg = UpsamplerConfig(low_height=args.size, low_width=args.size, scale=4,
                          max_frames=max(args.views, args.times), patch_size=8, dim=192,
                          depth=2, heads=4, prediction=args.prediction,
                          residual=args.prediction == "x0" and not args.upsampler_direct)  # fmt: skip
    model = Upsampler(cfg)
    frames = min(args.views, args.times)
    spec = ItemSpec(stage="upsampler", height=cfg.height, width=cfg.width, frames=frames, seed=0)
    validator = Validator(model, upsampler_validation(val_high), args.eval_every)
    phases = [("clips", args.upsampler_steps, data.objects, spec)]
    summary = train(args, model, "upsampler", phases, root / "runs" / "upsampler", validator)
    return model.eval(), summary, validator.curve


# ------------------------------------------------------------------ scoring
def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float ``[..., 3, H, W]`` in [-1, 1] -> uint8 ``[..., H, W, 3]``."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()


@torch.no_grad()
def generate_all(model, grids: torch.Tensor, steps: int, batch: int = 8) -> np.ndarray:
    """Every grid from its ``grid[0, :]`` and ``grid[:, 0]`` (Euler ``steps``, fixed noise)."""
    from model.flow import euler_sample
    from model.masking import grid_condition_mask

    out = []
    for start in range(0, grids.shape[0], batch):
        x0 = grids[start : start + batch]
        known = grid_condition_mask(x0.shape[0], *x0.shape[1:3], device=x0.device)
        noise = torch.stack([fixed_noise(x0.shape[1:], start + i, "sample", x0.device)
                             for i in range(x0.shape[0])])  # fmt: skip
        out.append(to_uint8(euler_sample(model, noise, steps=steps, x_known=x0, known=known)))
    return np.concatenate(out)


def score_rows(named: dict[str, np.ndarray], gt: np.ndarray, alpha: np.ndarray, resamples: int):
    """Per model: the baselines' table and the paired comparison with the best baseline."""
    from tasks.baselines import grid_scores, summarise

    return {
        name: summarise(
            [grid_scores(p, g, a) for p, g, a in zip(pred, gt, alpha, strict=True)], resamples
        )  # fmt: skip
        for name, pred in named.items()
    }


@torch.no_grad()
def upsampler_scores(args, model, high: np.ndarray, resamples: int) -> dict:
    """Held-out frames: the upsampler's PSNR and bicubic's from the same low-res frames."""
    import cv2

    from model.sampling import upsample
    from tasks.baselines import paired_interval
    from tasks.metrics import psnr

    diffs, ours, bicubic = [], [], []
    side = high.shape[-2]
    for grid in high:  # (V, T, H, W, 3)
        low = downsample(grid, args.size)
        pred = to_uint8(upsample(model, to_model(low, args.device), steps=args.sample_steps))
        cubic = np.stack([
            cv2.resize(f, (side, side), interpolation=cv2.INTER_CUBIC)
            for f in low.reshape(-1, *low.shape[-3:])]).reshape(grid.shape)  # fmt: skip
        ours.append(psnr(pred, grid))
        bicubic.append(psnr(cubic, grid))
        diffs.append(ours[-1] - bicubic[-1])
    mean, low_, high_ = paired_interval(np.array(diffs), resamples)
    return {"psnr": float(np.mean(ours)), "psnr_bicubic": float(np.mean(bicubic)),
            "difference": mean, "low": low_, "high": high_, "beats_bicubic": bool(low_ > 0)}  # fmt: skip


# ------------------------------------------------------------------ output
def draw_curves(path: Path, curves: dict[str, dict[str, list]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6))
    for ax, (stage, c) in zip(np.atleast_1d(axes), curves.items(), strict=True):
        steps, loss = zip(*c["train"], strict=True) if c["train"] else ((), ())
        if loss:
            k = max(1, len(loss) // 20)  # running mean: the per-step loss is noisy
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1 :], smooth, label=f"train (mean of {k} logs)", alpha=0.8)
        ax.plot(*zip(*c["val"], strict=True), "o-", label="held-out (fixed noise)")
        if "zero" in c:
            ax.axhline(c["zero"], ls="--", c="grey", label="zero velocity")
        ax.set_yscale("log")  # the first value dwarfs the rest on a linear scale
        ax.set_title(stage)
        ax.set_xlabel("step")
        ax.set_ylabel("masked flow loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def zero_velocity_loss(x0: torch.Tensor, known: torch.Tensor) -> float:
    """What predicting 0 scores: E|e - x0|^2 over the unknown frames = 1 + E x0^2."""
    from model.flow import masked_mse

    return float(masked_mse(torch.zeros_like(x0), -x0, known, per_sample=True)) + 1.0


def print_table(title: str, summary: dict) -> None:
    from tasks.baselines import format_table

    print(f"\n{title} ({summary['grids']} held-out grids)")
    print(format_table(summary))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    out = Path(args.out or tempfile.mkdtemp(prefix="fourreal-learn-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["FOURREAL_HOME"] = str(out)
    from core.env import configure_environment
    from model.config import DiTConfig
    from model.masking import grid_condition_mask

    configure_environment()
    laps = {}
    tick = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal tick
        laps[what] = round(time.perf_counter() - tick, 1)
        print(f"  {what}: {laps[what]:.0f}s", flush=True)
        tick = time.perf_counter()

    objects, held_high, held_alpha = render_objects(args, out)
    data = Data(pseudo4d_grids(args, out), objects, held_high, held_alpha)
    held = downsample(held_high, args.size)  # (N, V, T, s, s, 3)
    alpha = downsample(held_alpha[..., None], args.size)[..., 0]
    lap(f"data: {len(objects)} objects + {len(data.pseudo4d)} pseudo-4D to train, "
        f"{len(held)} held-out objects")  # fmt: skip

    dev = args.device
    grids = to_model(held, dev)  # (N, V, T, 3, s, s)
    # base validation clips: each held-out grid's fixed-view video at view 1 and its
    # freeze-time video at time 1, with their contexts
    val_clips = torch.cat([grids[:, 1], grids[:, :, 1]])
    val_ctx = torch.tensor([0] * len(grids) + [1] * len(grids), device=dev)
    cfg = DiTConfig(height=args.size, width=args.size, max_frames=max(args.views, args.times),
                    patch_size=args.patch, dim=args.dim, depth=args.depth, heads=args.heads,
                    prediction=args.prediction, rope_theta=args.rope_theta)  # fmt: skip
    base, base_summary, base_curve = train_base(args, cfg, data, val_clips, val_ctx, out)
    lap(f"base: {args.base_steps} steps")

    import copy

    from model.config import FourDConfig
    from model.fourd import FourDModel

    untrained = FourDModel(copy.deepcopy(base), FourDConfig(base=cfg, sync=args.sync)).eval()
    fourd, sync_summary, sync_curve = train_fourd(args, base, data, grids, out)
    lap(f"4D ({args.sync}): {sum(args.sync_steps)} steps")

    val_high = to_model(held_high[:8, 0], dev)  # 8 held-out fixed-view videos, high-res
    up, up_summary, up_curve = train_upsampler(args, data, val_high, out)
    lap(f"upsampler: {args.upsampler_steps} steps")

    preds = {
        "4d_model": generate_all(fourd, grids, args.sample_steps),
        "untrained_4d": generate_all(untrained, grids, args.sample_steps),
        "4d_model_1step": generate_all(fourd, grids, 1),
    }
    tables = score_rows(preds, held, alpha, args.bootstrap)
    for name, summary in tables.items():
        print_table(name, summary)
    ups = upsampler_scores(args, up, held_high[:8], args.bootstrap)
    print(f"\nupsampler x4 on held-out frames: {ups['psnr']:.2f} dB vs bicubic "
          f"{ups['psnr_bicubic']:.2f} dB, difference {ups['difference']:+.2f} "
          f"[{ups['low']:+.2f}, {ups['high']:+.2f}]: "
          f"{'beats' if ups['beats_bicubic'] else 'does NOT beat'} bicubic")  # fmt: skip
    lap("generation and scoring")

    known = grid_condition_mask(len(grids), *grids.shape[1:3], device=dev)
    curves = {
        "base": {"train": train_history(out / "runs" / "base"), "val": base_curve},
        "4d": {
            "train": train_history(out / "runs" / "sync"),
            "val": sync_curve,
            "zero": zero_velocity_loss(grids, known),
        },  # fmt: skip
        "upsampler": {"train": train_history(out / "runs" / "upsampler"), "val": up_curve},
    }
    png = draw_curves(out / "curves.png", curves)
    main_table = tables["4d_model"]
    result = {
        "out": str(out),
        "curves": str(png),
        "config": {k: v for k, v in vars(args).items()},
        "heldout_grids": len(held),
        "4d": {name: {"rows": t["rows"], "vs_best": t["vs_best"]} for name, t in tables.items()},
        "beats_best_baseline": {
            s: main_table["vs_best"][s]["beats"] for s in ("psnr", "psnr_object")
        },
        "gain_over_best_baseline_db": {
            s: main_table["vs_best"][s]["mean"] for s in ("psnr", "psnr_object")
        },
        "upsampler": ups,
        "validation": {name: c["val"] for name, c in curves.items()},
        "trainable_parameters": {
            "base": base_summary["trainable_parameters"],
            "4d": sync_summary["trainable_parameters"],
            "upsampler": up_summary["trainable_parameters"],
        },  # fmt: skip
        "seconds": laps,
        "total_s": round(time.perf_counter() - t0, 1),
        "device": args.device,
        "threads": torch.get_num_threads(),
    }
    (out / "result.json").write_text(json.dumps(result, indent=1, default=_jsonable))
    print(json.dumps(result, default=_jsonable))
    return 0


def _jsonable(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    return str(x)


if __name__ == "__main__":
    raise SystemExit(main())
