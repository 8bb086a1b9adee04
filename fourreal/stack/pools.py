"""Work pools, deployments and workers of the local stack (Prefect client calls)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.io import atomic_write_text
from core.paths import REPO_ROOT
from fourreal.stack.processes import ProcRecord, prefect_bin, spawn, tail

# Pools and the concurrency each one allows (None: unlimited). Training holds a
# whole GPU: one run at a time per gpu pool; the deployment limit in
# prefect.yaml says the same per training stage.
POOLS: dict[str, int | None] = {"cpu": None, "gpu": 1}


def ensure_pools(api_url: str, pools: dict[str, int | None] = POOLS) -> list[str]:
    """Create (or update) the process work pools; idempotent."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with SyncPrefectClient(api=api_url) as client:
        for name, limit in pools.items():
            try:
                client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=name,
                        type="process",
                        base_job_template=template,
                        concurrency_limit=limit,
                        description=f"fourreal {name} work (process workers)",
                    )
                )
            else:
                client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=limit))
    return list(pools)


def deploy_all(env: dict[str, str], logs: Path, timeout: float = 600.0) -> list[str]:
    """``prefect --no-prompt deploy --all`` from the repo root; returns deployment names."""
    cmd = [prefect_bin(), "--no-prompt", "deploy", "--all"]
    log = logs / "deploy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    deploy_env = dict(env)
    # Keep `{{ $FOURREAL_REPO }}` in the pull step as a placeholder: each worker
    # resolves it to its own clone at run time (see prefect.yaml).
    deploy_env.pop("FOURREAL_REPO", None)
    res = subprocess.run(
        cmd, cwd=REPO_ROOT, env=deploy_env, capture_output=True, text=True, timeout=timeout
    )
    atomic_write_text(log, res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd[1:])}` failed ({res.returncode}):\n{tail(log, 40)}")
    return deployment_names()


def deployment_names(yaml_path: Path = REPO_ROOT / "prefect.yaml") -> list[str]:
    """``flow/deployment`` names declared in ``prefect.yaml``."""
    import yaml

    doc = yaml.safe_load(yaml_path.read_text())
    return [f"{d['entrypoint'].rsplit(':', 1)[1]}/{d['name']}" for d in doc.get("deployments", [])]


def start_worker(
    pool: str, index: int, env: dict[str, str], logs: Path, poll_seconds: float
) -> ProcRecord:
    worker_env = dict(env)
    worker_env["PREFECT_WORKER_QUERY_SECONDS"] = str(poll_seconds)
    name = f"fourreal-{pool}-{index}"
    cmd = [prefect_bin(), "worker", "start", "--pool", pool, "--type", "process", "--name", name]
    return spawn(f"worker-{pool}-{index}", cmd, worker_env, logs / f"{name}.log")
