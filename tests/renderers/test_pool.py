"""Ray pool: a worker killed mid-object is replaced and the object retried (or failed).

The object blocks its worker by reading an external buffer from a FIFO; the
test kills that worker's process for real (SIGKILL), then feeds the FIFO so
the retry on the fresh worker can finish.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from renderers.job import RenderSpec
from renderers.pool import RenderPool
from tests.renderers.assets import pivot_box

pytestmark = pytest.mark.usefixtures("ray_session")

SPEC = RenderSpec(views=2, times=2, height=16, width=16).params()


def _blocked_object(folder):
    b = pivot_box()
    gltf = b.write_gltf(folder / "slow.gltf")
    fifo = gltf.with_suffix(".bin")
    data = fifo.read_bytes()
    fifo.unlink()
    os.mkfifo(fifo)
    return gltf, fifo, data


def _kill_and_wait(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {pid} did not die")


def _run_and_kill(pool, job, max_retries, feed=None) -> dict:
    """Run ``job`` on the pool's one worker; kill that worker while it is blocked."""
    (pid,) = pool.wait_ready()
    results = []
    runner = threading.Thread(
        target=lambda: results.extend(pool.run([job], timeout_s=60, max_retries=max_retries))
    )
    runner.start()
    time.sleep(1.0)  # the worker is now blocked opening the FIFO
    _kill_and_wait(pid)
    if feed is not None:
        fifo, data = feed
        with open(fifo, "wb") as f:  # returns once the retry's worker opens the FIFO
            f.write(data)
    runner.join(60)
    assert not runner.is_alive()
    (res,) = results
    return res


def test_crashed_worker_is_replaced_and_its_object_retried_or_failed(tmp_path):
    gltf, fifo, data = _blocked_object(tmp_path)
    job = {"key": 0, "path": str(gltf), "out": str(tmp_path / "g.npz"), "spec": SPEC}
    with RenderPool(1) as pool:
        res = _run_and_kill(pool, job, max_retries=1, feed=(fifo, data))
        assert res["status"] == "ok", res
        assert (tmp_path / "g.npz").is_file()
        # no retries left: the crash is the object's failure, and the pool goes on
        res = _run_and_kill(pool, dict(job, out=str(tmp_path / "h.npz")), max_retries=0)
        assert res["status"] == "failed" and "worker crashed 1 times" in res["error"]
        assert not (tmp_path / "h.npz").exists()
