"""The GPU path measured end to end, one printed line per figure (see bench/gpu.sh).

    bash bench/gpu.sh               # paper preset, CUDA: <= 8 min on one H100/H200
    bash bench/gpu.sh --cpu-smoke   # the same code at the tiny preset on CPU (a test runs it)

Lines, in order (each printed as soon as it is measured, so a timeout keeps
the ones before it):

1. ``sdpa backend``: which scaled-dot-product-attention kernel ran for the
   preset's attention under the training precision (profiled); on CUDA it
   must be flash or memory-efficient (asserted).
2. ``base MFU``: model FLOPs utilisation of the base training step
   (``Engine.step``: bf16, compiled on CUDA) against 989 TFLOP/s dense bf16.
3. ``sync step / base step``: the 4D step (one 8x8 grid, activation
   checkpointing as ``auto`` picks it) over the base step, both timed alike.
4. ``peak memory``: per stage (base, sync, upsampler), the measured peak
   next to the traced estimate (``model.memory``) printed before training.
5. ``generation``: an 8x8 grid at the base resolution with 50 Euler steps,
   then upsampled (x4), wall time (paper: 72x128 -> 288x512, target <= 30 s).
6. ``render``: grids/s of an 8x8 grid at the upsampler's resolution with EGL
   and with OSMesa on this node, each in its own process (one GL platform per
   process, chosen before OpenGL loads).

Models are freshly initialised (speed and memory do not depend on weights);
batches are synthetic tensors of the shapes the loaders produce.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ holds scripts named like packages (catalog.py...): keep it off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

PAPER = {"preset": "paper", "device": "cuda", "base_batch": 4, "frames": 8, "grid": 8}
SMOKE = {"preset": "tiny", "device": "cpu", "base_batch": 2, "frames": 8, "grid": 8}
SDPA_KERNELS = {
    "aten::_scaled_dot_product_flash_attention": "flash",
    "aten::_scaled_dot_product_efficient_attention": "efficient",
    "aten::_scaled_dot_product_cudnn_attention": "cudnn",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "flash (cpu)",
    "aten::_scaled_dot_product_attention_math": "math",
}


def line(name: str, text: str, **figures) -> None:
    """One result line, and its figures as JSON for scripts (``--json``)."""
    print(f"{name:24s} {text}", flush=True)
    RESULTS[name] = figures


RESULTS: dict[str, dict] = {}


# ---------------------------------------------------------------- helpers
def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_steps(engine, state, batches: list[dict], warmup: int, steps: int) -> float:
    """Median seconds of ``Engine.step`` after ``warmup`` steps (compilation happens there)."""
    for _ in range(warmup):
        engine.step(state, batches)
    synchronize(engine.device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        engine.step(state, batches)
        synchronize(engine.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def base_batch(cfg, B: int, F: int, device) -> dict:
    import torch

    return {
        "x": torch.rand(B, F, 3, cfg.height, cfg.width, device=device) * 2 - 1,
        "known": torch.zeros(B, F, dtype=torch.bool, device=device),
        "context": torch.zeros(B, dtype=torch.long, device=device),
        "k": torch.arange(B),
    }


def grid_batch(cfg, V: int, T: int, device) -> dict:
    import torch

    H, W = cfg.height, cfg.width
    return {
        "x": torch.rand(1, V, T, 3, H, W, device=device) * 2 - 1,
        "known": torch.zeros(1, V, T, dtype=torch.bool, device=device),
        "weight": torch.ones(1, V, T, 1, H, W, device=device),
        "k": torch.arange(1),
    }


def clip_batch(cfg, B: int, F: int, device) -> dict:
    import torch

    x = torch.rand(B, F, 3, cfg.height, cfg.width, device=device) * 2 - 1
    return {"x": x, "k": torch.arange(B)}


class StageRun:
    """One stage's engine on synthetic batches: estimate, step time, measured peak."""

    def __init__(self, stage: str, model, batch: dict, device, run_dir: Path, compile=None):
        import torch

        from tasks.train.engine import Engine, EngineConfig, estimate_step_memory

        self.cfg = EngineConfig(stage=stage, batch_size=batch["x"].shape[0], compile=compile)
        self.estimate = estimate_step_memory(self.cfg, model.cfg, batch, device)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        self.engine = Engine(
            self.cfg, model, [], run_dir / stage, meta={}, device=device, resume=False
        )
        self.state = self.engine.setup()
        self.batch = batch

    def time_step(self, warmup: int, steps: int) -> float:
        return timed_steps(self.engine, self.state, [self.batch], warmup, steps)

    def measured_peak(self) -> float | None:
        import torch

        from model.memory import GIB

        if self.engine.device.type != "cuda":
            return None  # a CPU process's peak mixes every stage; the test compares on CPU
        return torch.cuda.max_memory_allocated(self.engine.device) / GIB

    def close(self) -> None:
        import torch

        self.engine = self.state = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# ---------------------------------------------------------------- measurements
def sdpa_backend(cfg, device) -> str:
    """The SDPA kernel the preset's attention runs under the training precision (profiled)."""
    import torch

    from model.layers import Attention
    from model.rope import rope_3d
    from tasks.train.engine import EngineConfig, precision_context

    attn = Attention(cfg.dim, cfg.heads).to(device)
    h, w = cfg.height // cfg.patch_size, cfg.width // cfg.patch_size
    x = torch.randn(1, 8 * h * w, cfg.dim, device=device)
    rope = rope_3d(8, h, w, cfg.head_dim, cfg.rope_theta, device)
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities) as prof:
        with torch.no_grad(), precision_context(EngineConfig(stage="base"), device):
            attn(x, rope)
    names = [SDPA_KERNELS[e.name] for e in prof.events() if e.name in SDPA_KERNELS]
    if not names:
        raise RuntimeError("no scaled_dot_product_attention kernel seen in the profile")
    return names[0]


def measure_training(setup: dict, device, run_dir: Path, warmup: int, steps: int) -> None:
    """Lines 2-4: base MFU, sync / base step time, peak memory per stage."""
    import torch

    from model.config import base_preset, fourd_preset, upsampler_preset
    from model.dit import DiT
    from model.flops import H100_BF16_PEAK_FLOPS, estimate_flops_per_step, mfu
    from model.fourd import FourDModel
    from model.upsampler import Upsampler
    from tasks.train.engine import EngineConfig
    from tasks.train.stages import MEMORY_BUDGET_BYTES, least_checkpointing, with_checkpointing

    preset, B, F, V = setup["preset"], setup["base_batch"], setup["frames"], setup["grid"]
    peaks = {}

    torch.manual_seed(0)
    base_cfg = base_preset(preset)
    run = StageRun("base", DiT(base_cfg), base_batch(base_cfg, B, F, device), device, run_dir)
    base_s = run.time_step(warmup, steps)
    flops = estimate_flops_per_step(base_cfg, B, F, base_cfg.height, base_cfg.width)
    util = mfu(flops, base_s)
    compiled = run.cfg.compiles(device)
    share = f"{util:.1%}" if device.type == "cuda" else "n/a on CPU"
    line(
        "base MFU",
        f"{share} ({flops / base_s / 1e12:.2f} TFLOP/s of {H100_BF16_PEAK_FLOPS / 1e12:.0f} "
        f"dense bf16; step {base_s * 1e3:.0f} ms, {B} clips x {F} frames "
        f"{base_cfg.height}x{base_cfg.width}, {'bf16' if run.cfg.uses_bf16(device) else 'fp32'}, "
        f"{'compiled' if compiled else 'eager'})",
        mfu=util,
        step_s=base_s,
        tflops=flops / base_s / 1e12,
    )
    peaks["base"] = (run.measured_peak(), run.estimate.peak_gib)
    run.close()

    # sync: the checkpointing "auto" would choose for this grid (traced)
    grid = grid_batch(base_cfg, V, V, device)
    precision = "bf16" if EngineConfig(stage="sync").uses_bf16(device) else "fp32"
    traced = EngineConfig(stage="sync", batch_size=1, precision=precision)
    mode = least_checkpointing(traced, fourd_preset(preset, "soft"), grid, MEMORY_BUDGET_BYTES)
    fourd_cfg = with_checkpointing(fourd_preset(preset, "soft"), mode)
    base = DiT(fourd_cfg.base)
    run = StageRun("sync", FourDModel(base, fourd_cfg), grid, device, run_dir)
    sync_s = run.time_step(warmup, steps)
    line(
        "sync step / base step",
        f"{sync_s / base_s:.2f} (sync {sync_s * 1e3:.0f} ms for one {V}x{V} grid, soft, "
        f"checkpointing {mode}; base {base_s * 1e3:.0f} ms)",
        ratio=sync_s / base_s,
        sync_step_s=sync_s,
        checkpointing=str(mode),
    )
    peaks["sync"] = (run.measured_peak(), run.estimate.peak_gib)
    run.close()

    up_cfg = upsampler_preset(preset)
    up = Upsampler(up_cfg)
    # eager: compiling it would cost device minutes for one memory figure
    run = StageRun("upsampler", up, clip_batch(up_cfg, 1, F, device), device, run_dir, False)
    run.time_step(1, 1)
    peaks["upsampler"] = (run.measured_peak(), run.estimate.peak_gib)
    run.close()
    parts = [
        f"{s} {'n/a' if m is None else f'{m:.2f}'} GiB (estimate {e:.2f})"
        for s, (m, e) in peaks.items()
    ]
    figures = {s: {"measured_gib": m, "estimate_gib": e} for s, (m, e) in peaks.items()}
    line("peak memory", "; ".join(parts), **figures)


def measure_generation(setup: dict, device) -> None:
    """Line 5: an 8x8 grid with 50 Euler steps, then the upsampler, wall time."""
    import torch

    from model.config import fourd_preset, upsampler_preset
    from model.fourd import build_fourd
    from model.sampling import generate_grid, upsample
    from model.upsampler import Upsampler
    from tasks.train.engine import EngineConfig, precision_context

    torch.manual_seed(0)
    V = setup["grid"]
    model = build_fourd(fourd_preset(setup["preset"], "soft")).to(device).eval()
    up = Upsampler(upsampler_preset(setup["preset"])).to(device).eval()
    H, W = model.cfg.base.height, model.cfg.base.width
    fixed = torch.rand(V, 3, H, W, device=device) * 2 - 1
    freeze = torch.rand(V, 3, H, W, device=device) * 2 - 1
    freeze[0] = fixed[0]  # both are grid[0, 0]
    with precision_context(EngineConfig(stage="sync"), device):
        synchronize(device)
        t0 = time.perf_counter()
        grid = generate_grid(model, fixed, freeze, steps=50, seed=0)
        synchronize(device)
        t_grid = time.perf_counter() - t0
        high = upsample(up, grid.float())
        synchronize(device)
        total = time.perf_counter() - t0
    h2, w2 = high.shape[-2:]
    line(
        "generation",
        f"{total:.1f} s ({V}x{V} grid at {H}x{W}, 50 Euler steps {t_grid:.1f} s, "
        f"upsampled to {h2}x{w2} {total - t_grid:.1f} s; paper target <= 30 s)",
        total_s=total,
        grid_s=t_grid,
    )


def measure_render(setup: dict) -> None:
    """Line 6: EGL and OSMesa grids/s, each in its own process."""
    from model.config import upsampler_preset

    up = upsampler_preset(setup["preset"])
    rates = {}
    for platform in ("egl", "osmesa"):
        env = {**os.environ, "PYOPENGL_PLATFORM": platform}
        cmd = [sys.executable, "-m", "bench.gpu", "--render-child", f"{up.height}x{up.width}"]
        cmd += ["--grid", str(setup["grid"]), "--grids", "2" if setup["device"] == "cpu" else "5"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            rates[platform] = None
            print(f"  render with {platform} failed: {out.stderr.strip()[-400:]}", flush=True)
            continue
        rates[platform] = json.loads(out.stdout.strip().splitlines()[-1])["grids_per_s"]
    fmt = {p: "failed" if r is None else f"{r:.2f} grids/s" for p, r in rates.items()}
    ratio = rates["egl"] / rates["osmesa"] if all(rates.values()) else None
    line(
        "render",
        f"EGL {fmt['egl']} vs OSMesa {fmt['osmesa']}"
        + (f" (x{ratio:.1f})" if ratio else "")
        + f", {setup['grid']}x{setup['grid']} at {up.height}x{up.width}",
        **rates,
    )


def render_child(size: str, grid: int, grids: int) -> None:
    """Render ``grids`` grids of one procedural object with this process's GL platform."""
    from renderers.job import RenderSpec, pose_object
    from renderers.render import GridRenderer
    from synthetic.objects import write_demo_objects

    h, w = (int(v) for v in size.split("x"))
    spec = RenderSpec(views=grid, times=grid, height=h, width=w)
    with tempfile.TemporaryDirectory() as tmp:
        posed = pose_object(write_demo_objects(Path(tmp), count=1, seed=1)[0], spec)
        renderer = GridRenderer()
        renderer.render(posed.poses[:1], posed.cameras, h, w)  # context + shader compile
        t0 = time.perf_counter()
        for _ in range(grids):
            renderer.render(posed.poses, posed.cameras, h, w)
        rate = grids / (time.perf_counter() - t0)
        platform = renderer.platform
        renderer.close()
    print(json.dumps({"platform": platform, "grids_per_s": rate}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny preset on CPU")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--render-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--grid", type=int, default=8, help=argparse.SUPPRESS)
    ap.add_argument("--grids", type=int, default=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render_child:
        render_child(args.render_child, args.grid, args.grids)
        return

    from core.env import configure_environment

    configure_environment()
    import torch

    setup = SMOKE if args.cpu_smoke else PAPER
    if setup["device"] == "cuda" and not torch.cuda.is_available():
        sys.exit("bench/gpu.sh: no CUDA device (use --cpu-smoke for the CPU run)")
    device = torch.device(setup["device"])
    if device.type == "cpu":  # tiny tensors on a shared CPU: one thread is far faster
        torch.set_num_threads(1)
    warmup, steps = (1, 2) if args.cpu_smoke else (3, 5)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"fourreal GPU bench: preset {setup['preset']} on {name}, torch {torch.__version__}")

    failed = []
    with tempfile.TemporaryDirectory(prefix="fourreal-gpu-bench-") as tmp:
        sections = {
            "sdpa backend": lambda: check_sdpa(setup, device),
            "training": lambda: measure_training(setup, device, Path(tmp), warmup, steps),
            "generation": lambda: measure_generation(setup, device),
            "render": lambda: measure_render(setup),
        }
        for name, run in sections.items():
            try:  # a failed section is reported; the device time of the others is not lost
                run()
            except Exception as e:
                failed.append(name)
                print(f"{name:24s} FAILED: {type(e).__name__}: {e}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, indent=1, default=str) + "\n")
    if failed:
        sys.exit(f"bench/gpu.sh: failed sections: {', '.join(failed)}")


def check_sdpa(setup: dict, device) -> None:
    """Line 1, asserted on CUDA: the fused attention kernels, never the math fallback."""
    from model.config import base_preset

    backend = sdpa_backend(base_preset(setup["preset"]), device)
    line("sdpa backend", backend, backend=backend)
    if device.type == "cuda" and backend not in ("flash", "efficient"):
        raise AssertionError(f"SDPA ran {backend}, not flash/efficient")


if __name__ == "__main__":
    main()
