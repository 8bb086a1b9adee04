"""Model benchmarks: training throughput of the base and sync stages, generation time.

    .venv/bin/python -m bench.model --preset tiny small              # CPU, 4x4 grids
    .venv/bin/python -m bench.model --preset paper --device cuda --grid 8 8 --bf16 --generate

For each preset, on one grid of V x T frames at the preset's resolution:

* base step: forward + backward + AdamW step of the base DiT on the grid's V
  fixed-view videos (a batch of V clips of T frames: the same frames);
* sync step: the same for the 4D model (soft sync) on the whole grid, one
  sample; only the sync layers train;
* ratio = sync step time / base step time (issue 5 target: <= 2.2);
* tokens/s = grid tokens / step time; MFU from ``model.flops`` (CUDA only);
* peak memory: CUDA max allocated, or the process's peak RSS on CPU;
* ``--generate``: time of ``generate_grid`` (``--steps`` Euler steps) plus
  ``upsample`` of the whole grid.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

if not __package__:  # run as a script: this file would shadow the model package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from model.config import base_preset, fourd_preset, upsampler_preset  # noqa: E402
from model.dit import DiT  # noqa: E402
from model.flops import estimate_flops_per_step, mfu, param_count  # noqa: E402
from model.flow import flow_loss  # noqa: E402
from model.fourd import FourDModel  # noqa: E402
from model.masking import grid_condition_mask, sample_known_mask  # noqa: E402
from model.sampling import generate_grid, upsample  # noqa: E402
from model.upsampler import Upsampler  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _time_steps(step, iters: int, warmup: int, device: torch.device) -> float:
    """Median seconds per call of ``step()``."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def bench_preset(name: str, args, device: torch.device) -> dict:
    V, T = args.grid
    cfg = base_preset(name, grad_checkpointing=args.checkpointing)
    H, W = cfg.height, cfg.width
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    autocast = torch.autocast(device.type, dtype=dtype, enabled=args.bf16)
    gen = torch.Generator(device=device).manual_seed(0)
    grid = torch.rand(1, V, T, 3, H, W, device=device, generator=gen) * 2 - 1

    # ---- base stage: V fixed-view clips of T frames
    base = DiT(cfg).to(device).train()
    opt = torch.optim.AdamW(base.parameters(), lr=1e-4, fused=device.type == "cuda")
    clips = grid[0]  # (V, T, 3, H, W)
    context = torch.zeros(V, dtype=torch.long, device=device)
    known = sample_known_mask(V, T, torch.Generator().manual_seed(0), device=device)

    def base_step():
        with autocast:
            loss = flow_loss(lambda x, s, k: base(x, s, context, k), clips, known, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_base = _time_steps(base_step, args.iters, args.warmup, device)
    mem_base = _peak_memory_mb(device)

    # ---- sync stage: the whole grid through the 4D model
    model = FourDModel(base, fourd_preset(name, "soft", grad_checkpointing=args.checkpointing))
    model.train()
    opt4 = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4, fused=device.type == "cuda")
    gknown = grid_condition_mask(1, V, T, device=device)

    def sync_step():
        with autocast:
            loss = flow_loss(model, grid, gknown, generator=gen)
        opt4.zero_grad(set_to_none=True)
        loss.backward()
        opt4.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_sync = _time_steps(sync_step, args.iters, args.warmup, device)
    mem_sync = _peak_memory_mb(device)

    tokens = V * T * cfg.tokens_per_frame
    row = {
        "preset": name,
        "params_M": param_count(cfg) / 1e6,
        "grid": f"{V}x{T}@{H}x{W}",
        "tokens": tokens,
        "base_step_s": t_base,
        "base_tok_per_s": tokens / t_base,
        "base_peak_MB": mem_base,
        "sync_step_s": t_sync,
        "sync_tok_per_s": tokens / t_sync,
        "sync_peak_MB": mem_sync,
        "sync_over_base": t_sync / t_base,
    }
    if device.type == "cuda":
        row["base_mfu"] = mfu(estimate_flops_per_step(cfg, V, T, H, W), t_base)
        row["sync_mfu"] = mfu(estimate_flops_per_step(model.cfg, 1, (V, T), H, W), t_sync)

    if args.generate:
        up = Upsampler(upsampler_preset(name)).to(device).eval()
        model.eval()
        low = grid[0].float()
        with torch.no_grad(), autocast:
            _sync(device)
            start = time.perf_counter()
            out = generate_grid(model, low[0], low[:, 0], steps=args.steps, seed=0)
            _sync(device)
            row["generate_s"] = time.perf_counter() - start
            start = time.perf_counter()
            upsample(up, out, steps=args.up_steps, seed=0)
            _sync(device)
            row["upsample_s"] = time.perf_counter() - start
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", nargs="+", default=["tiny", "small"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--grid", nargs=2, type=int, default=[4, 4], metavar=("V", "T"))
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--generate", action="store_true", help="also time generation")
    parser.add_argument("--steps", type=int, default=25, help="Euler steps of generate_grid")
    parser.add_argument("--up-steps", type=int, default=10, help="Euler steps of upsample")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    for name in args.preset:
        row = bench_preset(name, args, device)
        print(
            "  ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            )
        )


if __name__ == "__main__":
    main()
