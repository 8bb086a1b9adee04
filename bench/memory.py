"""Peak training memory of every 4D variant, traced (no GPU needed), against soft sync.

    .venv/bin/python -m bench.memory                          # paper preset, one 8x8 grid, ~5 min
    .venv/bin/python -m bench.memory --preset tiny --grid 2 2 # seconds (the smoke test)

For each variant of the registry (model.variants; ``fused`` twice: with its
block mask and with the dense SDPA mask) the training engine's own estimate
(tasks.train.engine.estimate_step_memory: one step of AdamW + EMA on fake
tensors, bf16 autocast, the kernels the target device runs) of one grid at the
preset's resolution. Printed beside the soft-sync row measured in the same
run, as a ratio. The block-mask kernel keeps what flash attention keeps (the
output and a log-sum-exp per query), so its row is traced with that kernel's
shapes; the dense row keeps the ``N x N`` bool mask and whatever the dense
kernel saves.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

CHECKPOINTING = {"off": False, "selective": "selective", "full": True}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="paper", choices=["tiny", "small", "paper"])
    p.add_argument("--grid", type=int, nargs=2, default=[8, 8], metavar=("V", "T"))
    p.add_argument("--checkpointing", default="full", choices=sorted(CHECKPOINTING))
    p.add_argument("--batch-size", type=int, default=1)
    args = p.parse_args(argv)
    if min(args.grid) < 2 or args.batch_size < 1:
        p.error("--grid needs V, T >= 2 and --batch-size >= 1")
    return args


def trace(args, sync: str, target: str, finetune: str = "") -> dict:
    from model.config import fourd_preset
    from tasks.train.engine import EngineConfig, estimate_step_memory

    mode = CHECKPOINTING[args.checkpointing]
    cfg = fourd_preset(args.preset, sync, finetune=finetune, grad_checkpointing=mode)
    V, T = args.grid
    B, H, W = args.batch_size, cfg.base.height, cfg.base.width
    batch = {
        "x": torch.zeros(B, V, T, 3, H, W),
        "known": torch.zeros(B, V, T, dtype=torch.bool),
        "weight": torch.ones(B),
    }
    engine = EngineConfig(stage="sync", batch_size=B, precision="bf16")
    start = time.perf_counter()
    report = estimate_step_memory(engine, cfg, batch, "cpu", target=target)
    return {
        "peak_bytes": report.peak_bytes,
        "peak_gib": round(report.peak_gib, 3),
        "trace_s": round(time.perf_counter() - start),
    }


def main(argv=None) -> dict:
    from model.variants import VARIANTS

    args = parse_args(argv)
    rows = {}
    for name, variant in VARIANTS.items():
        if variant.finetunes_base:
            rows[f"{name} (block mask)"] = trace(args, name, "cuda")
            rows[f"{name} (dense mask)"] = trace(args, name, "cpu")
            rows[f"{name} LoRA (block mask)"] = trace(args, name, "cuda", "lora")
        else:
            rows[name] = trace(args, name, "cuda")
    baseline = rows["soft"]["peak_bytes"]
    V, T = args.grid
    print(f"{args.preset}, one {V}x{T} grid, batch {args.batch_size}, bf16, "
          f"checkpointing {args.checkpointing}; baseline: soft sync")  # fmt: skip
    for name, row in rows.items():
        row["vs_soft"] = round(row["peak_bytes"] / baseline, 3)
        print(f"  {name:26s} {row['peak_bytes'] / 2**30:9.3f} GiB   x{row['vs_soft']:.2f}")
    summary = {"preset": args.preset, "grid": [V, T], "checkpointing": args.checkpointing,
               "rows": rows}  # fmt: skip
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
