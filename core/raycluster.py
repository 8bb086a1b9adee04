"""Joining or starting Ray with the environment our workers need."""

from __future__ import annotations

import os

from core.env import configure_environment
from core.paths import REPO_ROOT
from core.reaper import install_reaper


def runtime_env(ship_code: bool) -> dict:
    """``runtime_env`` for Ray workers: env vars always; the code when remote.

    A local Ray shares this machine's venv and editable install. A remote
    cluster gets the repository as ``working_dir`` (Ray uploads it) and must
    have the same pinned dependencies installed on its nodes.
    """
    env = {"env_vars": configure_environment()}
    if ship_code:
        env["working_dir"] = str(REPO_ROOT)
        env["excludes"] = ["data/", ".venv/", ".git/", "**/__pycache__/"]
    return env


def ensure_ray(address: str | None = None, num_cpus: int | None = None):
    """Initialise Ray once per process; later calls reuse the session."""
    import ray

    if ray.is_initialized():
        return ray
    remote = address is not None and address != "local"
    kwargs = dict(
        runtime_env=runtime_env(ship_code=remote and address.startswith("ray://")),
        include_dashboard=False,
        log_to_driver=True,
        ignore_reinit_error=True,
    )
    if remote:
        ray.init(address=address, **kwargs)
    else:
        install_reaper()  # a local Ray's GCS, raylet and agents die with this process
        ray.init(num_cpus=num_cpus or os.cpu_count(), **kwargs)
    return ray
