"""Fixtures of the renderer tests (assets are built in tests/renderers/assets.py).

``prefect_harness``, ``ray_session``, ``shared_gltf_dir`` and the session
data root come from ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetic.objects import write_demo_objects
from tests.renderers.assets import write_bad_inputs


@pytest.fixture(scope="session")
def demo_objects(tmp_path_factory) -> list[Path]:
    return write_demo_objects(tmp_path_factory.mktemp("demo_objects"), count=3, seed=7)


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bad_objects")
    return folder, write_bad_inputs(folder, hang=False)


@pytest.fixture(scope="session")
def renderer():
    from renderers.render import GridRenderer

    r = GridRenderer()
    yield r
    r.close()
