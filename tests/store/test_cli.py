"""``fourreal sample export``: every kind to its npz contract; bad input is one line, exit 2."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from catalog.store import Catalog
from core import sample_store
from core.paths import data_root, relative_to_root
from tests.store.conftest import T

runner = CliRunner()


def _register(kind: str, sid: str, st: sample_store.Stored) -> None:
    cat = Catalog()
    cat.init()
    cat.append(
        "samples",
        [{"sample_id": sid, "kind": kind, "recipe": "test-cli", "recipe_version": "1",
          "path": relative_to_root(st.path), "sha256": st.sha256, "bytes": st.bytes,
          "status": "ok"}],
    )  # fmt: skip


def _cli(*args: str):
    from fourreal.cli import app

    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def samples(rendered, clip) -> dict[str, str]:
    folder = data_root() / "samples" / "cli"
    made = {
        sample_store.RENDERED: lambda p: sample_store.write_rendered(p, **rendered),
        sample_store.PSEUDO4D: lambda p: sample_store.write_pseudo4d(
            p, frames=clip, affine=np.tile(np.eye(2, 3), (3, 1, 1)), seed=1, frame_indices=range(T)
        ),
        sample_store.CLIP: lambda p: sample_store.write_clip(
            p, frames=clip, frame_indices=range(T), fps=10.0, mode="dynamic"
        ),
        sample_store.GENERATED: lambda p: sample_store.write_generated(
            p, grid=rendered["rgb"], times=rendered["times"]
        ),
    }
    ids = {}
    for k, (kind, write) in enumerate(made.items()):
        sid = f"{k:x}" * 64
        _register(kind, sid, write(sample_store.sample_path(folder, sid)))
        ids[kind] = sid
    return ids


@pytest.mark.parametrize("kind", sample_store.KINDS)
def test_export_writes_each_contract(samples, kind, tmp_path):
    out = tmp_path / "x.npz"
    res = _cli("sample", "export", samples[kind][:12], "--out", str(out))
    assert res.exit_code == 0, res.output
    with np.load(out, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(sample_store.EXPORT_KEYS[kind])
        frames = z["grid"] if "grid" in z.files else z["rgb"] if "rgb" in z.files else z["frames"]
        assert frames.dtype == np.uint8


def test_bad_input_is_one_line_exit_2(samples, tmp_path, monkeypatch):
    cases = [
        (("sample", "export", "9" * 64, "--out", str(tmp_path / "a.npz")), "no sample"),
        (("sample", "export", "xyz", "--out", str(tmp_path / "a.npz")), "not a sample id"),
        (
            ("sample", "export", samples[sample_store.CLIP], "--out", str(tmp_path / "a.png")),
            ".npz",
        ),
    ]
    for args, needle in cases:
        res = _cli(*args)
        assert res.exit_code == 2 and needle in res.output, res.output
        assert res.output.strip().count("\n") == 0, res.output
    # a corrupt file: one line naming the sample
    sid = samples[sample_store.RENDERED]
    path = (
        data_root()
        / Catalog().rows("SELECT path FROM samples WHERE sample_id = ?", [sid])[0]["path"]
    )
    data = path.read_bytes()
    try:
        path.write_bytes(data[:-100])
        res = _cli("sample", "export", sid, "--out", str(tmp_path / "b.npz"))
        assert res.exit_code == 2 and f"sample {sid}" in res.output, res.output
        assert res.output.strip().count("\n") == 0 and not (tmp_path / "b.npz").exists()
    finally:
        path.write_bytes(data)
    # a misconfigured object store fails before any work, naming the variable
    monkeypatch.setenv("FOURREAL_HOME", "s3://bucket/p")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:9000")
    res = _cli("sample", "export", sid, "--out", str(tmp_path / "c.npz"))
    assert res.exit_code == 2 and "AWS_ENDPOINT_URL" in res.output, res.output
    assert res.output.strip().count("\n") == 0


def test_build_fails_before_work_on_a_bad_object_store(tmp_path):
    """In a subprocess: the build's progress console must not outlive a CliRunner stream."""
    import os
    import subprocess
    import sys

    from synthetic.objects import write_demo_objects

    folder = tmp_path / "objects"
    write_demo_objects(folder, count=1, seed=0)
    env = dict(
        os.environ,
        FOURREAL_HOME="s3://bucket/p",
        FOURREAL_LOCAL=str(tmp_path / "local"),
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing listens there
        AWS_ACCESS_KEY_ID="k",
        AWS_SECRET_ACCESS_KEY="s",
    )
    args = ["build", "objects", str(folder), "--views", "2", "--times", "2"]
    res = subprocess.run(
        [sys.executable, "-m", "fourreal.cli", *args], env=env, capture_output=True, text=True
    )
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().startswith("error: AWS_ENDPOINT_URL: "), res.stderr
    assert res.stderr.strip().count("\n") == 0 and not res.stdout.strip()
    assert not (tmp_path / "local" / "grids").exists()  # no work started
