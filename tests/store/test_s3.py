"""The data root on a real S3 server (SeaweedFS): round trips, ranged reads, bad configuration."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from core import fs, sample_store
from core.sample_store import SampleError, open_sample
from tests.servers import free_ports
from tests.store.conftest import T, psnr


@pytest.fixture
def s3_home(seaweedfs, monkeypatch, request, tmp_path):
    prefix = f"home-{request.node.name.replace('[', '-').rstrip(']')}"
    for key, value in seaweedfs.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FOURREAL_LOCAL", str(tmp_path / "local"))
    monkeypatch.setenv("FOURREAL_HOME", f"s3://{seaweedfs.bucket}/{prefix}")
    return seaweedfs, prefix


def test_round_trip_on_s3(s3_home, rendered, clip):
    server, prefix = s3_home
    root = fs.check_home()
    assert not root.is_local and root.uri == f"s3://{server.bucket}/{prefix}"
    rel = sample_store.sample_path("samples/grid_objaverse", "ab12cd")
    st = sample_store.write_rendered(rel, **rendered, sample_id="ab12cd")
    # the object is really in the bucket, under the prefix, with the size the store returned
    info = server.filesystem().get_file_info(f"{server.bucket}/{prefix}/{rel}")
    assert info.size == st.bytes
    assert fs.exists(rel) and fs.size(rel) == st.bytes
    assert fs.listing("samples") == ["grid_objaverse/ab/ab12cd.zip"]
    with open_sample(rel) as s:  # ranged reads: one view, one time step
        assert s.bytes is None and s.kind == sample_store.RENDERED
        view, freeze = s.view(1), s.time(T - 1)
    with open_sample(rel, sha256=st.sha256) as s:  # one GET, hash checked
        out = s.export()
    assert np.array_equal(view, out["rgb"][1]) and np.array_equal(freeze, out["rgb"][:, T - 1])
    assert psnr(out["rgb"], rendered["rgb"]) >= 50
    assert np.array_equal(out["alpha"], rendered["alpha"])
    clip_rel = sample_store.sample_path("samples/clip", "ef34")
    sample_store.write_clip(
        clip_rel, frames=clip, frame_indices=np.arange(T), fps=8.0, mode="dynamic"
    )
    assert sample_store.read_grid(clip_rel).shape == (1, *clip.shape)
    fs.delete(rel)
    assert not fs.exists(rel)
    with pytest.raises(SampleError, match="sample ab12cd: file not found at s3://"):
        open_sample(rel)


def test_existing_lists_the_bucket_prefix(s3_home):
    from tests.core.test_fs_existing import check_existing

    check_existing(lambda rel: fs.put_bytes(rel, b"x"))


def test_corrupt_object_names_the_sample(s3_home, rendered):
    rel = "samples/x/cafe01.zip"
    st = sample_store.write_rendered(rel, **rendered)
    data = fs.read_bytes(rel)
    fs.put_bytes(rel, data[: len(data) // 3])
    with pytest.raises(SampleError, match="sample cafe01: .*truncated or corrupt"):
        with open_sample(rel) as s:
            s.grid()
    with pytest.raises(SampleError, match="sample cafe01: .*sha256"):
        open_sample(rel, sha256=st.sha256)


def _bad(monkeypatch, server, **env):
    for key, value in {**server.env(), **env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FOURREAL_HOME", env.get("FOURREAL_HOME", f"s3://{server.bucket}/p"))
    with pytest.raises(fs.StoreConfigError) as e:
        fs.check_home()
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_misconfigured_store_fails_with_one_line_naming_the_variable(seaweedfs, monkeypatch):
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    cases = {
        "AWS_ENDPOINT_URL": {"AWS_ENDPOINT_URL": dead},
        "AWS_ACCESS_KEY_ID": {"AWS_ACCESS_KEY_ID": "nobody"},
        "AWS_SECRET_ACCESS_KEY": {"AWS_SECRET_ACCESS_KEY": "wrong-secret"},
        "FOURREAL_HOME": {"FOURREAL_HOME": "s3://no-such-bucket/p"},
    }
    for var, env in cases.items():
        assert _bad(monkeypatch, seaweedfs, **env).startswith(f"{var}: "), var
    msg = _bad(monkeypatch, seaweedfs, AWS_ENDPOINT_URL="127.0.0.1:9")
    assert msg.startswith("AWS_ENDPOINT_URL: ") and "scheme" in msg
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweedfs.endpoint)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(fs.StoreConfigError, match="^AWS_SECRET_ACCESS_KEY: not set"):
        fs.check_home()


def test_local_root_stays_the_default(monkeypatch, tmp_path, rendered):
    monkeypatch.setenv("FOURREAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FOURREAL_LOCAL", raising=False)
    root = fs.check_home()
    assert root.is_local and root.uri == str(tmp_path / "home")
    assert fs.local_root() == tmp_path / "home"  # caches stay where they were
    st = sample_store.write_rendered("samples/a/abc.zip", **rendered)
    assert (tmp_path / "home" / "samples" / "a" / "abc.zip").stat().st_size == st.bytes
    monkeypatch.setenv("FOURREAL_HOME", "s3://bucket/prefix")
    assert fs.local_root().name == "data"  # remote home: local files go to ./data
    monkeypatch.setenv("FOURREAL_LOCAL", str(tmp_path / "local"))
    assert fs.local_root() == tmp_path / "local"
    with pytest.raises(ValueError, match="escapes the data root"):
        fs.home().join("../outside")


def test_video_build_writes_straight_to_s3(s3_home, tmp_path):
    """The per-video work of build_pseudo4d with an S3 home: samples land in the bucket."""
    from synthetic.videos import write_video
    from tasks.videos.build import SourceSpec, VideoJob, grid_from_video, process_source

    server, prefix = s3_home
    video = write_video(tmp_path / "v.mp4", 20, 72, 128, seed=2)
    job = VideoJob(kind="grid_pseudo4d", times=4, height=32, width=64, views=3, stride=2,
                   out_dir="samples/pseudo4d", seed=1)  # fmt: skip
    res = process_source(SourceSpec(str(video)), job)
    (row,) = res.sample_rows
    assert row["status"] == "ok" and row["path"].startswith("samples/pseudo4d/")
    key = f"{server.bucket}/{prefix}/{row['path']}"
    assert server.filesystem().get_file_info(key).size == row["bytes"]
    assert not (tmp_path / "local" / "samples").exists()  # nothing written locally
    export = grid_from_video(video, 3, 4, 32, 64, seed=1, stride=2)
    with open_sample(row["path"], sha256=row["sha256"]) as s:
        assert np.array_equal(s.grid(), export["grid"])  # = fourreal pseudo4d, bit for bit


def _client_in_child(parent_client_id: int, rel: str, out) -> None:
    out.put((id(fs.home().fs) == parent_client_id, fs.read_bytes(rel)))


def test_a_forked_process_makes_its_own_s3_client(s3_home):
    """DataLoader workers are forked: on the parent's connections they read wrong bytes or hang."""
    rel = "fork/one.bin"
    fs.put_bytes(rel, b"payload")
    parent = fs.home()
    assert fs.read_bytes(rel) == b"payload"  # the parent's client now holds an open connection
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_client_in_child, args=(id(parent.fs), rel, out))
    child.start()
    same_client, data = out.get(timeout=120)
    child.join(timeout=60)
    assert not same_client and data == b"payload"
    assert fs.home() is parent and fs.read_bytes(rel) == b"payload"  # the parent keeps its own
    assert fs.exist_all([rel, "fork/none.bin", rel]) == [True, False, True]
