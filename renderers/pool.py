"""Rendering many objects on Ray: one actor per CPU, each keeps a renderer alive.

Workers write their grid files themselves (only small result dicts travel
back through the object store). A job that runs past ``timeout_s`` has its
worker killed and replaced and is reported failed; a job whose worker
crashes is retried on a fresh worker up to ``max_retries`` times, then
reported failed. Ray must already be initialised (fourreal.raycluster).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable


class RenderWorker:
    """Actor body: one GL context for the worker's lifetime."""

    def __init__(self):
        from fourreal.env import configure_environment

        configure_environment()
        from renderers.render import GridRenderer

        self.renderer = GridRenderer()

    def ready(self) -> int:
        return os.getpid()

    def render(self, job: dict) -> dict:
        from renderers.job import render_job

        return render_job(job, self.renderer)


def _failed(job: dict, error: str) -> dict:
    return {
        "key": job.get("key"),
        "out": job["out"],
        "status": "failed",
        "error": error,
        "sha256": None,
        "meta": {},
    }


def run_jobs(
    jobs: Iterable[dict],
    *,
    num_workers: int,
    timeout_s: float = 300.0,
    max_retries: int = 2,
    on_result: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Render every job (see renderers.job.render_job); results in completion order."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    jobs = list(jobs)
    if not jobs:
        return []
    if num_workers < 1:
        raise ValueError(f"num_workers: {num_workers} must be >= 1")
    actor_cls = ray.remote(num_cpus=1, max_restarts=0)(RenderWorker)
    pending = deque(jobs)
    attempts: dict[int, int] = {}
    starting: dict = {}  # ready ref -> actor (the clock starts once a worker is up)
    idle: list = []
    inflight: dict = {}  # result ref -> (actor, job, started)
    results: list[dict] = []
    start_failures = 0

    def start_worker():
        actor = actor_cls.remote()
        starting[actor.ready.remote()] = actor

    def emit(res: dict):
        results.append(res)
        if on_result is not None:
            on_result(res)

    for _ in range(min(num_workers, len(jobs))):
        start_worker()
    try:
        while pending or inflight:
            while idle and pending:
                actor, job = idle.pop(), pending.popleft()
                attempts[id(job)] = attempts.get(id(job), 0) + 1
                inflight[actor.render.remote(job)] = (actor, job, time.monotonic())
            refs = list(inflight) + list(starting)
            ready, _ = ray.wait(refs, num_returns=1, timeout=0.25)
            for ref in ready:
                if ref in starting:
                    actor = starting.pop(ref)
                    try:
                        ray.get(ref)
                        idle.append(actor)
                    except RayActorError as e:
                        start_failures += 1
                        if start_failures > 3 * num_workers:
                            raise RuntimeError(f"render workers fail to start: {e}") from e
                        start_worker()
                    continue
                actor, job, _ = inflight.pop(ref)
                try:
                    emit(ray.get(ref))
                    idle.append(actor)
                except RayTaskError as e:  # render_job itself raised: a bug, not the object
                    emit(_failed(job, f"worker error: {e.cause!r}"))
                    idle.append(actor)
                except RayActorError as e:
                    ray.kill(actor)
                    start_worker()
                    n = attempts[id(job)]
                    if n <= max_retries:
                        pending.appendleft(job)
                    else:
                        emit(_failed(job, f"worker crashed {n} times: {type(e).__name__}"))
            now = time.monotonic()
            for ref, (actor, job, started) in list(inflight.items()):
                if now - started > timeout_s:
                    inflight.pop(ref)
                    ray.kill(actor)
                    start_worker()
                    emit(
                        _failed(
                            job,
                            f"timeout: no result after {timeout_s:g} s "
                            "(worker killed and replaced)",
                        )
                    )
    finally:
        for actor in idle + list(starting.values()) + [a for a, _, _ in inflight.values()]:
            ray.kill(actor)
    return results
