"""Session-wide fixtures: one data root, one Prefect harness, one Ray session.

FOURREAL_HOME points at a fresh temporary folder for the whole session,
set before any project module reads it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="fourreal-test-home-"))
os.environ["FOURREAL_HOME"] = str(_SESSION_HOME)
os.environ.setdefault("PREFECT_HOME", str(_SESSION_HOME / "prefect"))
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray-", dir="/tmp"))

from core.env import configure_environment  # noqa: E402

configure_environment()

SHARED_GLTF = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gltf").resolve()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def data_home() -> Path:
    return _SESSION_HOME


@pytest.fixture
def catalog(tmp_path):
    """A fresh, initialised catalog in its own folder (not the session one)."""
    from catalog.store import Catalog

    cat = Catalog(tmp_path / "catalog")
    cat.init()
    return cat


@pytest.fixture(scope="session")
def prefect_harness():
    """One ephemeral Prefect API for the whole session (real server, temp database)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness) -> str:
    """The session harness's API URL, for CLI subprocesses that need not start a server.

    A ``fourreal`` command without ``PREFECT_API_URL`` starts its own temporary API
    (about 20 s on 2 busy cores); tests whose point is not that start give it this one.
    """
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole session (starting Ray costs seconds)."""
    from core.raycluster import ensure_ray

    ray = ensure_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def shared_gltf_dir() -> Path:
    if not SHARED_GLTF.is_dir():
        pytest.skip(f"Khronos sample files not found at {SHARED_GLTF}")
    return SHARED_GLTF


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """One real S3 server (SeaweedFS) with a bucket for the whole session, stopped by pid."""
    from tests.servers import start_seaweedfs, stop

    server, proc = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    stop(proc)


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL (initdb + pg_ctl, free loopback port) for the session.

    Tests get their own database from ``postgres_server.create_database(name)``.
    """
    from tests.servers import PostgresServer, pg_bin

    try:
        pg_bin("initdb")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    server = PostgresServer().start()
    yield server
    server.stop()
