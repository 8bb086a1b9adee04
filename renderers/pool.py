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


class RenderPool:
    """``num_workers`` render actors; use as a context manager (actors die on exit)."""

    def __init__(self, num_workers: int):
        import ray

        if num_workers < 1:
            raise ValueError(f"num_workers: {num_workers} must be >= 1")
        self.num_workers = num_workers
        self._ray = ray
        self._cls = ray.remote(num_cpus=1, max_restarts=0)(RenderWorker)
        self._starting: dict = {}  # ready ref -> actor (a job's clock starts once it is up)
        self._idle: list = []
        self._start_failures = 0
        for _ in range(num_workers):
            self._start_worker()

    def _start_worker(self) -> None:
        actor = self._cls.remote()
        self._starting[actor.ready.remote()] = actor

    def wait_ready(self) -> list[int]:
        """Block until every (idle) worker is up; their pids."""
        ray = self._ray
        ray.get(list(self._starting))
        self._idle += list(self._starting.values())
        self._starting.clear()
        return ray.get([actor.ready.remote() for actor in self._idle])

    def close(self) -> None:
        for actor in self._idle + list(self._starting.values()):
            self._ray.kill(actor)
        self._idle, self._starting = [], {}

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(
        self,
        jobs: Iterable[dict],
        *,
        timeout_s: float = 300.0,
        max_retries: int = 2,
        on_result: Callable[[dict], None] | None = None,
    ) -> list[dict]:
        """Render every job (see renderers.job.render_job); results in completion order."""
        ray = self._ray
        from ray.exceptions import RayActorError, RayTaskError

        pending = deque(jobs)
        attempts: dict[int, int] = {}
        inflight: dict = {}  # result ref -> (actor, job, started)
        results: list[dict] = []

        def emit(res: dict) -> None:
            results.append(res)
            if on_result is not None:
                on_result(res)

        def replace(actor) -> None:
            ray.kill(actor)
            self._start_worker()

        try:
            while pending or inflight:
                while self._idle and pending:
                    actor, job = self._idle.pop(), pending.popleft()
                    attempts[id(job)] = attempts.get(id(job), 0) + 1
                    inflight[actor.render.remote(job)] = (actor, job, time.monotonic())
                refs = list(inflight) + list(self._starting)
                ready, _ = ray.wait(refs, num_returns=1, timeout=0.1)
                for ref in ready:
                    if ref in self._starting:
                        actor = self._starting.pop(ref)
                        try:
                            ray.get(ref)
                            self._idle.append(actor)
                        except RayActorError as e:
                            self._start_failures += 1
                            if self._start_failures > 3 * self.num_workers:
                                raise RuntimeError(f"render workers fail to start: {e}") from e
                            self._start_worker()
                        continue
                    actor, job, _ = inflight.pop(ref)
                    try:
                        emit(ray.get(ref))
                        self._idle.append(actor)
                    except RayTaskError as e:  # render_job itself raised: a bug, not the object
                        emit(_failed(job, f"worker error: {e.cause!r}"))
                        self._idle.append(actor)
                    except RayActorError as e:
                        replace(actor)
                        n = attempts[id(job)]
                        if n <= max_retries:
                            pending.appendleft(job)
                        else:
                            emit(_failed(job, f"worker crashed {n} times: {type(e).__name__}"))
                now = time.monotonic()
                for ref, (actor, job, started) in list(inflight.items()):
                    if now - started > timeout_s:
                        inflight.pop(ref)
                        replace(actor)
                        emit(
                            _failed(
                                job,
                                f"timeout: no result after {timeout_s:g} s "
                                "(worker killed and replaced)",
                            )
                        )
        finally:
            for actor, _, _ in inflight.values():  # interrupted: these are in an unknown state
                replace(actor)
        return results


def run_jobs(
    jobs: Iterable[dict],
    *,
    num_workers: int,
    timeout_s: float = 300.0,
    max_retries: int = 2,
    on_result: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Start a pool, render every job, stop the pool."""
    jobs = list(jobs)
    if not jobs:
        return []
    with RenderPool(min(num_workers, len(jobs))) as pool:
        return pool.run(jobs, timeout_s=timeout_s, max_retries=max_retries, on_result=on_result)
