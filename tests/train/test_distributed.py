"""Two Ray Train workers (gloo, CPU) through the same path as a multi-GPU run."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.checkpoints import checkpoint_file, get_checkpoint
from model.checkpoint import load_model
from tasks.train.distributed import rank_records
from tasks.train.engine import weights_digest


@pytest.mark.timeout(300)
def test_two_workers_see_different_data_and_end_identical(
    ray_session, train_data, train_catalog, tiny
):
    from tasks.train.params import TrainBaseParams
    from tasks.train.run import run_stage

    params = TrainBaseParams(
        **tiny(
            dataset=train_data["clips"],
            steps=3,
            frames=4,
            workers=2,
            batch_size=2,
            run_name="ddp-two-workers",
        )
    )
    summary = run_stage(params)
    assert summary["final_step"] == 3

    ranks = rank_records(summary["run_dir"])
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)
    a, b = (r["stream_indices"] for r in ranks)
    assert len(a) == len(b) == 3 * 2  # steps x batch per rank
    assert not set(a) & set(b)  # disjoint shares of the sample stream
    assert a == [0, 2, 4, 6, 8, 10] and b == [1, 3, 5, 7, 9, 11]
    # ...which are different samples (the stream is a seeded permutation per epoch)
    from tasks.train.data import StreamDataset
    from tasks.train.stages import prepare

    phase = prepare(params, train_catalog, "check").phases[0]
    ds = StreamDataset(phase.snapshot.samples, phase.spec)
    assert [ds.sample_index(k) for k in a] != [ds.sample_index(k) for k in b]
    # DDP kept the replicas identical, and rank 0's checkpoint is those weights
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    row = get_checkpoint(train_catalog, summary["final_checkpoint_id"], stage="base")
    model, _, extra = load_model(checkpoint_file(row))
    assert weights_digest(model) == ranks[0]["weights_sha256"]
    assert extra["run_id"] == summary["run_id"] == row["run_id"]
    assert Path(summary["run_dir"], "tensorboard").is_dir()


def test_ray_workers_render_with_the_driver_gl_platform(ray_session):
    import os

    @ray_session.remote
    def platform() -> str | None:
        return os.environ.get("PYOPENGL_PLATFORM")

    assert ray_session.get(platform.remote()) == os.environ["PYOPENGL_PLATFORM"]
