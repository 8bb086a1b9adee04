"""The snapshot dataset: seeded order, rank shares, grid slicing, hash checks, checkpoint files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from catalog.datasets import dataset_samples
from core.grid import MODE_INDEX, to_model
from tasks.checkpoint_loading import check_safetensors
from tasks.train.checkpointing import load_optimizer_state, optimizer_state
from tasks.train.data import ItemSpec, StreamDataset, StreamSampler, load_sample, resolve_snapshot


def _grid_dataset(train_catalog, train_data, **spec):
    snap = resolve_snapshot(train_catalog, train_data["objaverse"], kinds=("grid_objaverse",))
    return StreamDataset(snap.samples, ItemSpec(height=64, width=128, seed=3, **spec))


def test_order_is_a_seeded_function_of_the_stream_index(train_catalog, train_data):
    a = _grid_dataset(train_catalog, train_data, stage="base", frames=4)
    b = _grid_dataset(train_catalog, train_data, stage="base", frames=4)
    n = len(a)
    first_epoch = [a.sample_index(k) for k in range(n)]
    assert sorted(first_epoch) == list(range(n))  # a permutation per epoch
    for k in (0, 5, 7):
        x, y = a[k], b[k]
        assert all(torch.equal(x[key], y[key]) for key in x)
    assert list(StreamSampler(2, 5, rank=1, world=2)) == [5, 7, 9]
    assert list(StreamSampler(0, 3, rank=0, world=2)) == [0, 2, 4]


def test_grids_become_freeze_time_or_fixed_view_clips(train_catalog, train_data):
    ds = _grid_dataset(train_catalog, train_data, stage="base", frames=4)
    modes = set()
    for k in range(12):
        item = ds[k]
        grid = to_model(load_sample(ds.samples[int(item["sample"])])[0])  # (V, T, 3, H, W)
        clip = item["x"]  # (4, 3, 64, 128), the stored size: no resize
        freeze = [t for t in range(4) if torch.allclose(clip, grid[:, t], atol=1e-6)]
        fixed = [v for v in range(4) if torch.allclose(clip, grid[v, :], atol=1e-6)]
        mode = int(item["context"])
        assert freeze if mode == MODE_INDEX["freeze_time"] else fixed, (k, mode)
        assert not item["known"].all()
        modes.add(mode)
    assert modes == {0, 1}


def test_sync_items_are_whole_grids_with_masks(train_catalog, train_data):
    snap = resolve_snapshot(train_catalog, train_data["pseudo4d"], kinds=("grid_pseudo4d",))
    ds = StreamDataset(snap.samples, ItemSpec(stage="sync", height=8, width=16, seed=0))
    item = ds[0]
    assert item["x"].shape == (4, 4, 3, 8, 16) and item["known"].shape == (4, 4)
    assert item["weight"].shape == (4, 4, 1, 8, 16)
    assert -1.0 <= item["x"].min() and item["x"].max() <= 1.0
    patterns = {tuple(ds[k]["known"].flatten().tolist()) for k in range(10)}
    inference = torch.zeros(4, 4, dtype=torch.bool)
    inference[0, :] = inference[:, 0] = True
    assert tuple(inference.flatten().tolist()) in patterns and len(patterns) > 1


def test_sync_masks_follow_the_stage_proportions(train_catalog, train_data):
    """The stage config's grid_masks reach the items: one pattern at 100% gives only that one."""
    from pydantic import ValidationError

    from model.masking import GRID_PATTERNS, grid_pattern
    from tasks.train.params import GridMaskProportions, TrainSyncParams

    only = GridMaskProportions(**{**dict.fromkeys(GRID_PATTERNS, 0.0), "first_column": 1.0})
    snap = resolve_snapshot(train_catalog, train_data["pseudo4d"], kinds=("grid_pseudo4d",))
    spec = ItemSpec(stage="sync", height=8, width=16, seed=0, grid_masks=only.pairs())
    ds = StreamDataset(snap.samples, spec)
    for k in range(6):
        assert torch.equal(ds[k]["known"], grid_pattern("first_column", 4, 4))
    with pytest.raises(ValidationError, match="grid_masks"):
        TrainSyncParams(parent_checkpoint="x", objaverse_dataset="y", pseudo4d_steps=0,
                        grid_masks={"first_row": 0.7, "unconditional": 0.6})  # fmt: skip
    with pytest.raises(ValueError, match="sum to 1"):
        ItemSpec(
            stage="sync",
            height=8,
            width=16,
            grid_masks=(("row_and_column", 0.5), *only.pairs()[1:]),
        )


def test_content_hash_checked_on_first_touch(train_catalog, train_data, tmp_path):
    snap = resolve_snapshot(train_catalog, train_data["objaverse"], kinds=("grid_objaverse",))
    ref = snap.samples[0]
    backup = tmp_path / "backup.zip"
    shutil.copy(ref.path, backup)
    try:
        data = bytearray(Path(ref.path).read_bytes())
        data[len(data) // 2] ^= 1  # one bit of one video member: still a readable archive
        Path(ref.path).write_bytes(bytes(data))
        ds = StreamDataset((ref,), ItemSpec(stage="sync", height=16, width=32))
        with pytest.raises(ValueError, match="sha256 mismatch"):
            ds[0]
    finally:
        shutil.copy(backup, ref.path)
    assert dataset_samples(train_catalog, train_data["objaverse"])[0]["status"] == "ok"


def _moved_away(refs, tmp_path):
    """Move the sample files of ``refs`` aside; returns a function that puts them back."""
    moved = [(ref.path, tmp_path / f"{k}.aside") for k, ref in enumerate(refs)]
    for src, dst in moved:
        shutil.move(src, dst)
    return lambda: [shutil.move(dst, src) for src, dst in moved]


def test_decoded_samples_are_cached_within_a_byte_budget(train_catalog, train_data, tmp_path):
    snap = resolve_snapshot(train_catalog, train_data["objaverse"], kinds=("grid_objaverse",))
    spec = ItemSpec(stage="sync", height=16, width=32)
    n = len(snap.samples)
    one = load_sample(snap.samples[0])[0].nbytes
    roomy = StreamDataset(snap.samples, spec, cache_bytes=n * one)
    tight = StreamDataset(snap.samples, spec, cache_bytes=2 * one)
    first = [roomy[k]["x"] for k in range(n)]
    for k in range(n):
        tight[k]
    assert len(tight._cache) == 2 and tight._cache_bytes <= 2 * one
    restore = _moved_away(snap.samples, tmp_path)
    try:  # the whole dataset fitted: the second epoch reads no file
        again = {int(roomy.sample_index(k)): roomy[k]["x"] for k in range(n, 2 * n)}
        assert all(torch.equal(first[k], again[roomy.sample_index(k)]) for k in range(n))
        assert not roomy.bad
        # the tight cache kept 2: the evicted samples are read again, and are missing now
        for k in range(n, 2 * n):
            tight[k]
        assert len(tight.bad) == n - 2
    finally:
        restore()


def test_optimizer_state_round_trips_through_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, betas=(0.8, 0.95))
    for _ in range(3):
        net(torch.randn(5, 4)).square().mean().backward()
        opt.step()
    tensors, meta = optimizer_state(opt)
    save_file(tensors, str(tmp_path / "o.safetensors"))
    check_safetensors(tmp_path / "o.safetensors")
    fresh = torch.optim.AdamW(net.parameters(), lr=1.0)
    load_optimizer_state(fresh, load_file(str(tmp_path / "o.safetensors")), meta)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i in a["state"]:
        for k in a["state"][i]:
            assert torch.equal(a["state"][i][k], b["state"][i][k])
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    with pytest.raises(ValueError, match="not a safetensors file"):
        check_safetensors(tmp_path / "bad.safetensors")


def test_base_masks_reach_the_items_through_the_stage_plan(train_catalog, train_data):
    from model.config import base_preset
    from tasks.train.params import BaseMaskProportions, TrainBaseParams
    from tasks.train.stages import _base_phases

    def items(masks: BaseMaskProportions) -> torch.Tensor:
        params = TrainBaseParams(dataset=train_data["clips"], frames=4, base_masks=masks)
        phase = _base_phases(params, train_catalog, base_preset("tiny"))[-1]
        ds = StreamDataset(phase.snapshot.samples, phase.spec)
        return torch.stack([ds[k]["known"] for k in range(24)])

    extend = items(BaseMaskProportions(none=0, random=0, interpolate=0, extend=1))
    assert extend[:, 0].all() and not extend[:, -1].any()  # a known prefix, every item
    assert not items(BaseMaskProportions(none=1, random=0, interpolate=0, extend=0)).any()
