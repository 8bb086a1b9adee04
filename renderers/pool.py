"""Rendering many objects on Ray: one actor per CPU, each keeps a renderer alive.

Workers write their grid files themselves (only small result dicts travel
back through the object store). Each actor takes two objects at a time on
two threads sharing one GL context under a lock, so one object's file
writing (and loading, posing) overlaps the other's rendering. A job that runs past ``timeout_s`` has its
worker killed and replaced and is reported failed; a job whose worker
crashes is retried on a fresh worker up to ``max_retries`` times, then
reported failed. Ray must already be initialised (core.raycluster).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable


class RenderWorker:
    """Actor body: one GL context for the worker's lifetime."""

    def __init__(self):
        from core.env import configure_environment

        configure_environment()
        # One actor per CPU: Mesa's llvmpipe rasteriser (OSMesa) would otherwise start
        # a thread per core in every actor and oversubscribe the machine.
        if os.environ.get("PYOPENGL_PLATFORM") == "osmesa":
            os.environ.setdefault("LP_NUM_THREADS", "1")
        from renderers.render import GridRenderer

        self.renderer = GridRenderer()
        self.gl_lock = threading.Lock()

    def ready(self) -> int:
        return os.getpid()

    def render(self, job: dict) -> dict:
        import ray

        from renderers.job import render_job

        result = render_job(job, self.renderer, self.gl_lock)
        result["node_id"] = ray.get_runtime_context().get_node_id()  # where it ran
        return result


def _failed(job: dict, error: str) -> dict:
    return {
        "key": job.get("key"),
        "out": job["out"],
        "status": "failed",
        "error": error,
        "sha256": None,
        "meta": {},
    }


SLOTS_PER_WORKER = 2  # objects in flight per actor (threads sharing its renderer)


class RenderPool:
    """``num_workers`` render actors; use as a context manager (actors die on exit)."""

    def __init__(self, num_workers: int, slots: int = SLOTS_PER_WORKER):
        import ray

        if num_workers < 1:
            raise ValueError(f"num_workers: {num_workers} must be >= 1")
        self.num_workers = num_workers
        self.slots = slots
        self._ray = ray
        self._cls = ray.remote(num_cpus=1, max_restarts=0, max_concurrency=slots)(RenderWorker)
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
        for actor in self._starting.values():
            self._idle += [actor] * self.slots
        self._starting.clear()
        return ray.get([actor.ready.remote() for actor in dict.fromkeys(self._idle)])

    def close(self) -> None:
        for actor in dict.fromkeys(self._idle + list(self._starting.values())):
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
        on_idle: Callable[[], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[dict]:
        """Render every job (see renderers.job.render_job); results in completion order.

        ``on_result`` is called as each result arrives, ``on_idle`` on every wait (about
        10 times a second): what the caller does with time (e.g. flush a batch of rows).
        ``should_stop`` is asked on every wait too: once it says yes, nothing more is
        started, jobs still running are abandoned (their workers killed) and the results
        so far are returned (a preempted build exits promptly with what finished).
        """
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

        def replace(actor, spare=None) -> None:
            """Kill ``actor``, start another; requeue its other jobs (all but ``spare``)."""
            ray.kill(actor)
            self._idle[:] = [a for a in self._idle if a is not actor]
            for ref, (a, job, _) in list(inflight.items()):
                if a is actor and job is not spare:
                    inflight.pop(ref)
                    attempts[id(job)] -= 1  # an innocent bystander: not its attempt
                    pending.appendleft(job)
            self._start_worker()

        try:
            while pending or inflight:
                if should_stop is not None and should_stop():
                    break  # what is in flight is killed below; its jobs are not reported
                while self._idle and pending:
                    busy = [a for a, _, _ in inflight.values()]
                    actor = min(self._idle, key=lambda a: sum(b is a for b in busy))
                    self._idle.remove(actor)  # the least busy worker first
                    job = pending.popleft()
                    attempts[id(job)] = attempts.get(id(job), 0) + 1
                    inflight[actor.render.remote(job)] = (actor, job, time.monotonic())
                refs = list(inflight) + list(self._starting)
                ready, _ = ray.wait(refs, num_returns=1, timeout=0.1)
                if on_idle is not None:
                    on_idle()
                for ref in ready:
                    if ref in self._starting:
                        actor = self._starting.pop(ref)
                        try:
                            ray.get(ref)
                            self._idle += [actor] * self.slots
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
                        replace(actor, spare=job)
                        n = attempts[id(job)]
                        if n <= max_retries:
                            pending.appendleft(job)
                        else:
                            emit(_failed(job, f"worker crashed {n} times: {type(e).__name__}"))
                now = time.monotonic()
                for ref, (actor, job, started) in list(inflight.items()):
                    if ref in inflight and now - started > timeout_s:
                        inflight.pop(ref)
                        replace(actor, spare=job)
                        emit(
                            _failed(
                                job,
                                f"timeout: no result after {timeout_s:g} s "
                                "(worker killed and replaced)",
                            )
                        )
        finally:
            for actor in dict.fromkeys(a for a, _, _ in inflight.values()):
                ray.kill(actor)  # interrupted: these are in an unknown state
                self._idle[:] = [a for a in self._idle if a is not actor]
                self._start_worker()
        return results


def run_jobs(
    jobs: Iterable[dict],
    *,
    num_workers: int,
    timeout_s: float = 300.0,
    max_retries: int = 2,
    on_result: Callable[[dict], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict]:
    """Start a pool, render every job (until ``should_stop()``), stop the pool."""
    jobs = list(jobs)
    if not jobs:
        return []
    with RenderPool(min(num_workers, len(jobs))) as pool:
        return pool.run(
            jobs,
            timeout_s=timeout_s,
            max_retries=max_retries,
            on_result=on_result,
            on_idle=on_idle,
            should_stop=should_stop,
        )
