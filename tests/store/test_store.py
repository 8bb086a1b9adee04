"""The sample store: every kind round trip, partial reads, legacy npz, corrupt files."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

from core import sample_store
from core.sample_store import Quality, SampleError, open_sample
from tests.store.conftest import H, T, V, W, psnr

F16_REL = 2.0**-11  # float16: 10 mantissa bits, rounded to nearest


def _file_sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_rendered_round_trip_default_quality(rendered, tmp_path):
    path = tmp_path / "ab" / "abc.zip"
    st = sample_store.write_rendered(path, **rendered, sample_id="abc")
    assert st.bytes == path.stat().st_size and st.sha256 == _file_sha(path)
    raw = sum(a.nbytes for a in rendered.values())
    assert st.bytes < raw / 4, (st.bytes, raw)
    with open_sample(path) as s:
        assert (s.kind, s.V, s.T, s.H, s.W, s.sample_id) == (
            sample_store.RENDERED,
            V,
            T,
            H,
            W,
            "abc",
        )
        out = s.export()
    assert sorted(out) == sorted(sample_store.EXPORT_KEYS[sample_store.RENDERED])
    assert out["rgb"].dtype == np.uint8 and out["rgb"].shape == rendered["rgb"].shape
    assert psnr(out["rgb"], rendered["rgb"]) >= 50
    assert np.array_equal(out["alpha"], rendered["alpha"])
    for key in ("K", "w2c", "times"):
        assert out[key].dtype == np.float64 and np.array_equal(out[key], rendered[key])
    depth, ref = out["depth"], rendered["depth"]
    assert depth.dtype == np.float32 and np.array_equal(depth == 0, ref == 0)
    fg = ref > 0
    assert np.all(np.abs(depth[fg] - ref[fg]) <= F16_REL * ref[fg])


def test_lossless_codec_and_float32_depth_are_exact(rendered, tmp_path):
    q = Quality(codec="h264rgb", depth="float32")
    st = sample_store.write_rendered(tmp_path / "x.zip", **rendered, quality=q)
    with open_sample(st.path) as s:
        out = s.export()
        assert s.manifest["quality"]["codec"] == "h264rgb"
    for key, ref in rendered.items():
        assert np.array_equal(out[key], ref), key


def test_quality_trades_bytes(rendered, tmp_path):
    near = sample_store.write_rendered(tmp_path / "a.zip", **rendered)
    lossy = sample_store.write_rendered(tmp_path / "b.zip", **rendered, quality={"crf": 28})
    assert lossy.bytes < near.bytes
    with open_sample(lossy.path) as s:
        assert psnr(s.grid(), rendered["rgb"]) < psnr(
            sample_store.read_grid(near.path), rendered["rgb"]
        )


def test_partial_reads_match_the_whole_grid(rendered, tmp_path):
    st = sample_store.write_rendered(
        tmp_path / "g.zip", **rendered, quality=Quality(codec="h264rgb")
    )
    whole = rendered["rgb"]  # lossless: every read must give back exactly the render
    assert np.array_equal(sample_store.read_grid(st.path), whole)
    with open_sample(st.path) as s:
        for v in range(V):
            assert np.array_equal(s.view(v), whole[v])
        for t in range(T):
            assert np.array_equal(s.time(t), whole[:, t])
        assert np.array_equal(s.grid(views=[3, 1], times=[4, 0]), whole[[3, 1]][:, [4, 0]])
        assert np.array_equal(s.grid(times=slice(1, 3)), whole[:, 1:3])
        with pytest.raises(IndexError, match="views"):
            s.view(V)
        with pytest.raises(IndexError, match="times"):
            s.time(-1)


def test_odd_frame_sizes(tmp_path):
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 256, (2, 3, 17, 33, 3), dtype=np.uint8)
    st = sample_store.write_generated(tmp_path / "odd.zip", grid=grid, times=np.arange(3.0))
    with open_sample(st.path) as s:
        assert (s.H, s.W) == (17, 33)
        assert s.grid().shape == grid.shape and psnr(s.grid(), grid) > 40


def test_clip_round_trip(clip, tmp_path):
    idx = np.arange(0, 2 * T, 2)
    st = sample_store.write_clip(
        tmp_path / "c.zip",
        frames=clip,
        frame_indices=idx,
        fps=12.5,
        mode="dynamic",
        quality=Quality(codec="h264rgb"),
    )
    with open_sample(st.path) as s:
        assert (s.kind, s.V, s.T) == (sample_store.CLIP, 1, T)
        assert np.array_equal(s.frames(), clip)
        assert np.array_equal(s.grid(), clip[None])
        out = s.export()
    assert sorted(out) == sorted(sample_store.EXPORT_KEYS[sample_store.CLIP])
    assert np.array_equal(out["frame_indices"], idx) and out["frame_indices"].dtype == np.int64
    assert float(out["fps"]) == 12.5 and str(out["mode"]) == "dynamic"


def test_generated_round_trip(clip, tmp_path):
    grid = np.stack([np.roll(clip, 3 * v, axis=2) for v in range(V)])  # [V, T, H, W, 3]
    known = np.zeros((V, T), bool)
    known[0], known[:, 0] = True, True
    st = sample_store.write_generated(
        tmp_path / "gen.zip", grid=grid, times=np.linspace(0, 1, T), quality=Quality("h264rgb")
    )
    with open_sample(st.path) as s:
        out = s.export()
    assert sorted(out) == ["grid", "known", "times"]
    assert np.array_equal(out["grid"], grid) and np.array_equal(out["known"], known)
    assert np.allclose(out["times"], np.linspace(0, 1, T))


LEGACY = {
    "rendered": lambda r, c: dict(r),
    "pseudo4d": lambda r, c: {
        "grid": r["rgb"],
        "frames": r["rgb"][0],
        "affine": np.zeros((V, 2, 3)),
        "frame_indices": np.arange(T),
    },
    "clip": lambda r, c: {
        "frames": c,
        "frame_indices": np.arange(T),
        "fps": np.float64(8.0),
        "mode": np.str_("freeze_time"),
    },
    "generated": lambda r, c: {
        "rgb": r["rgb"],
        "times": r["times"],
        "known": np.ones((V, T), bool),
    },
}
LEGACY_KIND = {
    "rendered": sample_store.RENDERED,
    "pseudo4d": sample_store.PSEUDO4D,
    "clip": sample_store.CLIP,
    "generated": sample_store.GENERATED,
}


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_npz_reads_through_the_same_api(name, rendered, clip, tmp_path):
    arrays = LEGACY[name](rendered, clip)
    path = tmp_path / "0123abcd.npz"
    np.savez(path, **arrays)  # what the previous version wrote
    grid = arrays.get("grid", arrays.get("rgb"))
    grid = clip[None] if grid is None else grid
    with open_sample(path) as s:
        assert s.legacy and s.kind == LEGACY_KIND[name] and s.sample_id == "0123abcd"
        assert (s.V, s.T) == grid.shape[:2]
        assert np.array_equal(s.grid(), grid)
        assert np.array_equal(s.time(1), grid[:, 1]) and np.array_equal(s.view(0), grid[0])
        out = s.export()
    for key in sample_store.EXPORT_KEYS[s.kind]:
        src = arrays.get(key, arrays.get("rgb") if key == "grid" else None)
        if src is not None:
            assert np.array_equal(out[key], src), key


# ------------------------------------------------------------------ faults
@pytest.fixture
def written(rendered, tmp_path):
    st = sample_store.write_rendered(tmp_path / "deadbeef.zip", **rendered, sample_id="deadbeef")
    return tmp_path / "deadbeef.zip", st


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9, 0.999])
def test_truncated_file_names_the_sample(written, keep):
    path, st = written
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(SampleError, match="sample deadbeef: .* truncated or corrupt"):
        with open_sample(path) as s:
            s.export()


@pytest.mark.parametrize("member", ["rgb/v002.mp4", "depth.npy.zst", "sample.json"])
def test_flipped_bytes_in_a_member_are_caught(written, member):
    path, _ = written
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 8, start + min(info.file_size, 64)):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(SampleError, match="sample deadbeef"):
        with open_sample(path) as s:
            s.export()


def test_corrupt_legacy_npz_names_the_sample(rendered, tmp_path):
    path = tmp_path / "feedface.npz"
    np.savez(path, **rendered)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SampleError, match="sample feedface"):
        open_sample(path)


def test_missing_file_and_hash_mismatch(written):
    path, st = written
    with pytest.raises(SampleError, match="sample nothere: file not found"):
        open_sample(path.parent / "nothere.zip")
    with pytest.raises(SampleError, match="sample deadbeef: sha256 mismatch"):
        open_sample(path, sha256="0" * 64)
    with open_sample(path, sha256=st.sha256) as s:  # the right hash opens it
        assert s.kind == sample_store.RENDERED


def test_bad_input_is_refused_before_writing(rendered, tmp_path):
    path = tmp_path / "keep.zip"
    before = sample_store.write_rendered(path, **rendered)
    bad = dict(rendered, rgb=rendered["rgb"].astype(np.float32))
    with pytest.raises(ValueError, match="rgb: must be uint8"):
        sample_store.write_rendered(path, **bad)
    with pytest.raises(ValueError, match="codec"):
        sample_store.write_rendered(path, **rendered, quality={"codec": "mjpeg"})
    with pytest.raises(ValueError, match="affine"):
        sample_store.write_pseudo4d(
            path, frames=rendered["rgb"][0], affine=np.zeros((2, 3)), seed=0, frame_indices=[0]
        )
    assert _file_sha(path) == before.sha256  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["keep.zip"]  # no temporary left behind


def test_export_npz_writes_the_contract(written, tmp_path):
    path, _ = written
    out = tmp_path / "export" / "x.npz"
    kind, keys = sample_store.export_npz(path, out)
    assert kind == sample_store.RENDERED and keys == sorted(
        sample_store.EXPORT_KEYS[sample_store.RENDERED]
    )
    with np.load(out, allow_pickle=False) as z:
        assert sorted(z.files) == keys and z["rgb"].shape == (V, T, H, W, 3)


def test_readers_take_any_kind(rendered, clip, tmp_path):
    """clips_from_grid and contact sheets read rendered grids too (they read only `grid` before)."""
    from PIL import Image

    from core.sheets import write_contact_sheet
    from tasks.videos.clips import clips_from_grid

    grid_path = sample_store.write_rendered(tmp_path / "r.zip", **rendered).path
    whole = sample_store.read_grid(grid_path)
    clips = list(clips_from_grid(grid_path))
    assert [(m, i) for m, i, _ in clips] == [("freeze_time", t) for t in range(T)] + [
        ("dynamic", v) for v in range(V)
    ]
    assert np.array_equal(clips[2][2], whole[:, 2]) and np.array_equal(clips[-1][2], whole[-1])
    clip_path = sample_store.write_clip(
        tmp_path / "c.zip", frames=clip, frame_indices=range(T), fps=8, mode="dynamic"
    ).path
    legacy = tmp_path / "l.npz"
    np.savez(legacy, **rendered)
    sheet = write_contact_sheet([grid_path, clip_path, legacy], tmp_path / "sheet.png")
    assert Image.open(sheet).size[1] > 2 * V * 8
