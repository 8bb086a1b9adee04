"""Estimated and measured peak memory of one real training step on CPU (run as a script).

``python -m tests.train.memory_probe`` prints one JSON line per case:
``{"case", "estimate", "measured"}`` in bytes. Run it in a fresh process with
``MALLOC_MMAP_THRESHOLD_=65536`` (see ``model.memory.measure_peak_rss``).
The measured step is the engine's own (``Engine.setup`` + ``Engine.step``).
"""

from __future__ import annotations

import json
import tempfile

import torch

from model.checkpoint import build_model
from model.config import base_preset, fourd_preset
from model.memory import measure_peak_rss
from tasks.train.engine import Engine, EngineConfig, estimate_step_memory

# (name, stage, model config, batch shape): peaks of ~0.1 GB
SYNC_BATCH = dict(B=1, V=4, T=4, H=64, W=128)
CASES = {
    "base": ("base", base_preset("tiny", dim=64, depth=2), dict(B=2, F=8, H=64, W=128)),
    "sync": ("sync", fourd_preset("tiny", "soft", dim=64, depth=2), SYNC_BATCH),
    "sync_selective": ("sync", fourd_preset("tiny", grad_checkpointing="selective"), SYNC_BATCH),
}


def make_batch(stage: str, B: int, H: int, W: int, F: int = 0, V: int = 0, T: int = 0) -> dict:
    gen = torch.Generator().manual_seed(0)
    if stage == "sync":
        return {
            "x": torch.rand(B, V, T, 3, H, W, generator=gen) * 2 - 1,
            "known": torch.zeros(B, V, T, dtype=torch.bool),
            "weight": torch.ones(B, V, T, 1, H, W),
            "k": torch.arange(B),
        }
    return {
        "x": torch.rand(B, F, 3, H, W, generator=gen) * 2 - 1,
        "known": torch.zeros(B, F, dtype=torch.bool),
        "context": torch.zeros(B, dtype=torch.long),
        "k": torch.arange(B),
    }


def real_step(stage: str, model_config, batch: dict) -> None:
    torch.manual_seed(0)
    model = build_model(model_config)
    with tempfile.TemporaryDirectory() as run_dir:
        engine = Engine(EngineConfig(stage=stage), model, [], run_dir, meta={}, resume=False)
        state = engine.setup()
        engine.step(state, [batch])


def main() -> None:
    torch.set_num_threads(1)
    for name, (stage, cfg, shape) in CASES.items():
        small = dict(shape, H=16, W=32)
        real_step(stage, cfg, make_batch(stage, **small))  # warm up: imports, kernels, pools
        batch = make_batch(stage, **shape)
        estimate = estimate_step_memory(EngineConfig(stage=stage), cfg, batch, "cpu").peak_bytes
        measured = measure_peak_rss(lambda: real_step(stage, cfg, batch))  # noqa: B023
        print(json.dumps({"case": name, "estimate": estimate, "measured": measured}), flush=True)


if __name__ == "__main__":
    main()
