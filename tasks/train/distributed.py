"""Scale-out on Ray Train: the same ``stages.execute`` on N DDP workers.

``run_distributed(plan, workers=N, use_gpu=..., ray_address=...)`` starts a
``ray.train.torch.TorchTrainer``: one GPU per worker and NCCL when
``use_gpu`` (``None``: when the cluster has a GPU for every worker), CPU
workers and gloo otherwise. Ray Train forms
the process group; each worker calls :func:`tasks.train.stages.execute`,
whose engine wraps the model in DDP and reads its own share of the sample
stream (rank ``r`` of ``w`` reads stream indices ``j w + r``). Rank 0 writes
checkpoints, metrics and catalog rows exactly as a single-process run does,
plus ``<run>/summary.json``; every rank writes ``<run>/ranks/rank<r>.json``
(the samples it read and the sha256 of its final weights), which is how a
test checks that ranks saw different data and ended with identical weights.
Ray Train's own storage goes under ``<data root>/ray_train``.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.io import atomic_write_text
from core.paths import data_root
from core.raycluster import ensure_ray


def _worker_loop(config: dict) -> None:
    import ray.train
    import ray.train.torch
    import torch.distributed as dist

    from tasks.train.stages import execute

    plan = config["plan"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = str(ray.train.torch.get_device()) if config["use_gpu"] else "cpu"
    seen: list[int] = []
    summary = execute(plan, device=device, record_stream=seen)
    run_dir = Path(plan.run_dir)
    record = {
        "rank": rank,
        "world": world,
        "stream_indices": seen,
        "weights_sha256": summary["weights_sha256"],
        "final_step": summary["final_step"],
    }
    atomic_write_text(run_dir / "ranks" / f"rank{rank}.json", json.dumps(record) + "\n")
    if rank == 0:
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, default=str) + "\n")
    dist.barrier()


def cluster_has_gpus(ray, workers: int) -> bool:
    """One GPU for each of ``workers`` in the Ray cluster."""
    return ray.cluster_resources().get("GPU", 0) >= workers


def run_distributed(
    plan, *, workers: int, use_gpu: bool | None = None, ray_address: str | None = None
) -> dict:
    """Train ``plan`` on ``workers`` Ray Train workers; returns rank 0's summary."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    ray = ensure_ray(ray_address)
    if use_gpu is None:
        use_gpu = cluster_has_gpus(ray, workers)
    run_dir = Path(plan.run_dir)
    for stale in (run_dir / "summary.json", *run_dir.glob("ranks/rank*.json")):
        stale.unlink(missing_ok=True)
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"plan": plan, "use_gpu": use_gpu},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        run_config=RunConfig(
            name=f"{plan.stage}-{plan.run_id}", storage_path=str(data_root() / "ray_train")
        ),
    )
    trainer.fit()
    return json.loads((run_dir / "summary.json").read_text())


def rank_records(run_dir: str | Path) -> list[dict]:
    """The per-rank records of the last distributed run in ``run_dir``, by rank."""
    files = sorted(Path(run_dir).glob("ranks/rank*.json"))
    return sorted((json.loads(f.read_text()) for f in files), key=lambda r: r["rank"])
