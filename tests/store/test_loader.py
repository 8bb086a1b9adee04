"""The training loader reads store samples; a corrupt one is skipped, counted and named."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from catalog.datasets import create_dataset
from core import sample_store
from core.paths import data_root, relative_to_root
from tasks.train.data import ItemSpec, StreamDataset, resolve_snapshot
from tasks.videos.pseudo4d import AffineBounds, camera_path
from tests.store.conftest import H, T, W

N = 4
VIEWS = 4


@pytest.fixture
def snapshot(catalog, clip, request):
    """``N`` virtual pseudo-4D samples in the store, their catalog rows and a snapshot."""
    name = "loader-" + "".join(c if c.isalnum() else "-" for c in request.node.name)
    folder = data_root() / "samples" / name
    rows = []
    for i in range(N):
        sid = f"{i:02d}" + "ab" * 31
        cam = camera_path(VIEWS, H, W, AffineBounds(), i)
        path = sample_store.sample_path(folder, sid)
        st = sample_store.write_pseudo4d(
            path, frames=np.roll(clip, i, 0), affine=cam.affine, seed=i, frame_indices=range(T)
        )
        rows.append(
            {"sample_id": sid, "kind": sample_store.PSEUDO4D, "recipe": "test", "recipe_version": "1",
             "v": VIEWS, "t": T, "h": H, "w": W, "path": relative_to_root(path),
             "sha256": st.sha256, "bytes": st.bytes, "status": "ok"}
        )  # fmt: skip
    catalog.append("samples", rows)
    ds = create_dataset(catalog, name, "recipe = 'test'")
    return resolve_snapshot(catalog, ds["dataset_id"], kinds=(sample_store.PSEUDO4D,))


def _spec() -> ItemSpec:
    return ItemSpec(stage="sync", height=H, width=W)


def test_loader_reads_virtual_grids(snapshot):
    ds = StreamDataset(snapshot.samples, _spec())
    ref = snapshot.samples[ds.sample_index(0)]
    item = ds[0]
    with sample_store.open_sample(ref.path) as s:
        grid = s.grid()
    expected = grid.astype(np.float32).transpose(0, 1, 4, 2, 3) / 127.5 - 1.0
    assert np.allclose(item["x"].numpy(), expected, atol=1e-6)
    assert int(item["skipped"]) == 0


@pytest.mark.parametrize("fault", ["truncated", "changed"])
def test_corrupt_sample_is_skipped_counted_and_named(snapshot, fault, caplog):
    verify = fault == "changed"
    ds = StreamDataset(snapshot.samples, _spec(), verify=verify)
    bad_idx = ds.sample_index(1)
    bad = snapshot.samples[bad_idx]
    data = bytearray(open(bad.path, "rb").read())
    if fault == "truncated":
        data = data[: len(data) // 2]
    else:
        data[-30] ^= 1  # inside the zip directory's comment-free tail: a changed byte
    with open(bad.path, "wb") as f:
        f.write(bytes(data))
    with caplog.at_level(logging.WARNING, logger="tasks.train.data"):
        items = [ds[k] for k in range(2 * N)]  # two epochs
    assert all(int(it["sample"]) != bad_idx for it in items)
    assert sum(int(it["skipped"]) for it in items) == 2  # once per epoch
    assert bad_idx in ds.bad and bad.sample_id in ds.bad[bad_idx]
    assert any(bad.sample_id in r.getMessage() for r in caplog.records)
    # item k is still a function of k: a fresh dataset gives the same items
    again = StreamDataset(snapshot.samples, _spec(), verify=verify)
    assert [int(again[k]["sample"]) for k in range(2 * N)] == [int(i["sample"]) for i in items]


def test_all_samples_corrupt_raises(snapshot):
    for ref in snapshot.samples:
        with open(ref.path, "r+b") as f:
            f.truncate(100)
    ds = StreamDataset(snapshot.samples, _spec(), verify=False)
    with pytest.raises(
        sample_store.SampleError, match="every sample of the snapshot is unreadable"
    ):
        ds[0]
