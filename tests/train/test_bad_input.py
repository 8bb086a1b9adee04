"""Bad input fails with a clear error naming the field, before any training step runs."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from catalog.checkpoints import checkpoint_file, register_checkpoint
from catalog.datasets import create_dataset, dataset_samples
from core.io import save_npz_atomic, sha256_file
from core.paths import data_root, relative_to_root
from synthetic.training import moving_shapes_grid
from tasks.train.params import TrainBaseParams, TrainSyncParams, TrainUpsamplerParams


class _Marker:
    """Unpickling this creates a file: proof that nothing was unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _count(cat) -> int:
    return cat.rows("SELECT count(*) AS n FROM checkpoints")[0]["n"]


def _fails(cat, params, *needles):
    from tasks.train.run import run_stage

    before = _count(cat)
    with pytest.raises(ValueError) as info:
        run_stage(params, catalog=cat)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert _count(cat) == before  # no step ran: no checkpoint row
    run = cat.rows("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    assert run["status"] == "failed" and needles[0] in run["error"]
    return str(info.value)


def _sample(
    cat,
    name: str,
    arrays: dict,
    *,
    kind: str,
    v: int,
    t: int,
    h: int,
    w: int,
    mode=None,
    status="ok",
) -> dict:
    path = data_root() / "samples" / "bad" / f"{name}.npz"
    save_npz_atomic(path, **arrays)
    row = {
        "sample_id": f"bad-{name}",
        "kind": kind,
        "mode": mode,
        "v": v,
        "t": t,
        "h": h,
        "w": w,
        "path": relative_to_root(path),
        "sha256": sha256_file(path),
        "status": status,
        "recipe": "bad",
        "recipe_version": "1",
    }
    cat.append("samples", [row])
    return row


def _dataset(cat, name: str, ids: list[str]) -> str:
    sql = "sample_id IN (" + ", ".join(f"'{i}'" for i in ids) + ")"
    return create_dataset(cat, name, sql)["dataset_id"]


def test_unknown_and_empty_snapshots(train_catalog, tiny):
    _fails(
        train_catalog,
        TrainBaseParams(**tiny(dataset="no-such-snapshot")),
        "dataset:",
        "no-such-snapshot",
    )
    empty = create_dataset(train_catalog, "bad-empty", "false", allow_empty=True)["dataset_id"]
    _fails(train_catalog, TrainBaseParams(**tiny(dataset=empty)), "dataset:", "is empty")


def test_failed_and_missing_samples(train_catalog, tiny):
    clip = np.zeros((8, 16, 32, 3), np.uint8)
    a = _sample(
        train_catalog,
        "will-fail",
        {"frames": clip},
        kind="clip",
        mode="dynamic",
        v=1,
        t=8,
        h=16,
        w=32,
    )
    ds = _dataset(train_catalog, "bad-failed", [a["sample_id"]])
    train_catalog.append("samples", [{**a, "status": "failed", "error": "decode error"}])
    # The snapshot pins the lake: the later row (the sample marked failed) is what the
    # catalog shows now, but a dataset is read through its pin, as it was made.
    now = train_catalog.rows("SELECT status FROM samples WHERE sample_id = ?", [a["sample_id"]])
    assert [r["status"] for r in now] == ["failed"]
    assert [r["status"] for r in dataset_samples(train_catalog, ds)] == ["ok"]
    with pytest.raises(ValueError, match="no ok samples match"):  # a new snapshot refuses it
        _dataset(train_catalog, "bad-failed-now", [a["sample_id"]])

    b = _sample(
        train_catalog,
        "will-vanish",
        {"frames": clip},
        kind="clip",
        mode="dynamic",
        v=1,
        t=8,
        h=16,
        w=32,
    )
    ds = _dataset(train_catalog, "bad-missing", [b["sample_id"]])
    (data_root() / b["path"]).unlink()
    _fails(train_catalog, TrainUpsamplerParams(**tiny(dataset=ds)), "dataset:", "missing on disk")


def test_resolution_and_views_not_matching_the_preset(train_catalog, tiny, train_data, base_run):
    small = _sample(
        train_catalog,
        "too-small",
        {"frames": np.zeros((8, 8, 16, 3), np.uint8)},
        kind="clip",
        mode="dynamic",
        v=1,
        t=8,
        h=8,
        w=16,
    )
    ds = _dataset(train_catalog, "bad-small", [small["sample_id"]])
    _fails(
        train_catalog,
        TrainBaseParams(**tiny(dataset=ds)),
        "dataset:",
        "smaller than the training resolution 16x32",
    )
    square = _sample(
        train_catalog,
        "square",
        {"frames": np.zeros((8, 64, 64, 3), np.uint8)},
        kind="clip",
        mode="dynamic",
        v=1,
        t=8,
        h=64,
        w=64,
    )
    ds = _dataset(train_catalog, "bad-aspect", [square["sample_id"]])
    _fails(train_catalog, TrainBaseParams(**tiny(dataset=ds)), "dataset:", "aspect")
    # V = 10 views exceed the tiny preset's max_frames = 8
    wide = _sample(
        train_catalog,
        "ten-views",
        {"grid": moving_shapes_grid(7, 10, 4, 16, 32)},
        kind="grid_pseudo4d",
        v=10,
        t=4,
        h=16,
        w=32,
    )
    ds = _dataset(train_catalog, "bad-views", [wide["sample_id"]])
    params = TrainSyncParams(
        **tiny(
            parent_checkpoint=base_run["final_checkpoint_id"],
            pseudo4d_dataset=ds,
            pseudo4d_steps=1,
            objaverse_steps=0,
        )
    )
    _fails(train_catalog, params, "pseudo4d_dataset:", "max_frames=8")
    # grids with fewer views and times (4) than the requested clip length (8)
    _fails(
        train_catalog,
        TrainBaseParams(**tiny(dataset=train_data["pseudo4d"], frames=8)),
        "dataset:",
        "fewer than frames=8 frames",
    )


def test_parent_checkpoint_problems(train_catalog, tiny, train_data, base_run, tmp_path):
    def sync(parent: str) -> TrainSyncParams:
        return TrainSyncParams(
            **tiny(
                parent_checkpoint=parent,
                objaverse_dataset=train_data["objaverse"],
                objaverse_steps=1,
                pseudo4d_steps=0,
            )
        )

    _fails(train_catalog, sync("no-such-checkpoint"), "checkpoint:", "no checkpoint")
    # wrong stage: a sync-stage row given as the parent of a sync run
    base_row = train_catalog.rows(
        "SELECT * FROM checkpoints WHERE checkpoint_id = ?", [base_run["final_checkpoint_id"]]
    )[0]
    src = checkpoint_file(base_row)
    copy_dir = data_root() / "bad-ckpt" / "copy"
    copy_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, copy_dir / "model.safetensors")
    shutil.copy(src.with_suffix(".json"), copy_dir / "model.json")
    wrong = register_checkpoint(
        train_catalog,
        stage="upsampler",
        path=copy_dir / "model.safetensors",
        step=1,
        run_id="bad-run",
    )
    _fails(train_catalog, sync(wrong["checkpoint_id"]), "checkpoint:", "'upsampler' checkpoint")
    # sha256 mismatch: the file changed after registration
    row = register_checkpoint(
        train_catalog, stage="base", path=copy_dir / "model.safetensors", step=2, run_id="bad-run"
    )
    with open(copy_dir / "model.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    _fails(train_catalog, sync(row["checkpoint_id"]), "checkpoint:", "sha256 mismatch")
    # preset mismatch: a tiny base given to a small sync run
    _fails(
        train_catalog,
        sync(base_run["final_checkpoint_id"]).model_copy(update={"preset": "small"}),
        "parent_checkpoint:",
        "not preset 'small'",
    )


def test_pickle_checkpoint_is_refused_and_never_unpickled(
    train_catalog, tiny, train_data, tmp_path
):
    marker = tmp_path / "unpickled"
    bad_dir = data_root() / "bad-ckpt" / "pickle"
    bad_dir.mkdir(parents=True, exist_ok=True)
    path = bad_dir / "model.safetensors"
    path.write_bytes(pickle.dumps({"weights": _Marker(marker)}))
    (bad_dir / "model.json").write_text(json.dumps({"format": 1, "kind": "dit", "config": {}}))
    row = register_checkpoint(train_catalog, stage="base", path=path, step=1, run_id="bad-run")
    params = TrainSyncParams(
        **tiny(
            parent_checkpoint=row["checkpoint_id"],
            pseudo4d_steps=0,
            objaverse_dataset=train_data["objaverse"],
            objaverse_steps=1,
        )
    )
    _fails(train_catalog, params, "parent_checkpoint:", "not a safetensors file")
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the same bytes do run code when unpickled
    assert marker.exists()


def test_parameter_models_name_the_field(tiny):
    with pytest.raises(ValidationError, match="steps"):
        TrainBaseParams(**tiny(dataset="x", steps=0))
    with pytest.raises(ValidationError, match="pseudo4d_dataset"):
        TrainSyncParams(**tiny(parent_checkpoint="c", pseudo4d_steps=10))
    with pytest.raises(ValidationError, match="precision"):
        TrainBaseParams(**tiny(dataset="x", precision="fp8"))
    with pytest.raises(ValidationError, match="unknown_field|extra"):
        TrainUpsamplerParams(**tiny(dataset="x", unknown_field=1))
    with pytest.raises(ValidationError, match="run_name"):
        TrainBaseParams(**tiny(dataset="x", run_name="../escape"))
