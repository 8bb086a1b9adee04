"""Training from a data root on a real S3 server (SeaweedFS): samples streamed from the
bucket by forked loader workers, a truncated one skipped and counted, checkpoints and
the catalog on the local disk (``FOURREAL_LOCAL``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from catalog.checkpoints import checkpoint_file, get_checkpoint
from catalog.store import Catalog
from core import fs
from synthetic.training import write_training_data
from tasks.train.callbacks import read_history
from tasks.train.data import StreamDataset
from tasks.train.params import TrainBaseParams
from tasks.train.stages import execute, prepare

PREFIX = "train-s3"
STEPS, BATCH = 3, 2


@pytest.fixture
def s3_data(seaweedfs, monkeypatch, tmp_path):
    for key, value in seaweedfs.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FOURREAL_LOCAL", str(tmp_path / "local"))
    monkeypatch.setenv("FOURREAL_HOME", f"s3://{seaweedfs.bucket}/{PREFIX}-{uuid.uuid4().hex[:8]}")
    cat = Catalog()
    cat.init()
    data = write_training_data(cat, prefix="s3", clips=4, grids=1, height=64, width=128)
    return seaweedfs, cat, data


def _params(tiny, data, **kw) -> TrainBaseParams:
    return TrainBaseParams(
        **tiny(dataset=data["clips"], steps=STEPS, frames=4, batch_size=BATCH, **kw)
    )


def test_base_trains_from_s3_and_skips_a_truncated_sample(s3_data, tiny, tmp_path):
    server, cat, data = s3_data
    local = tmp_path / "local"
    bucket = server.filesystem()
    base = fs.home().base
    stored = bucket.get_file_info(pafs.FileSelector(f"{base}/samples", recursive=True))
    assert sum(i.type == pafs.FileType.File for i in stored) == 6  # 4 clips, 2 grids
    assert not (local / "samples").exists()  # nothing of the dataset on the local disk

    plan = prepare(_params(tiny, data, loader_workers=2), cat, str(uuid.uuid4()))
    refs = plan.phases[-1].snapshot.samples
    check = StreamDataset(refs, plan.phases[-1].spec)
    bad = refs[check.sample_index(0)]  # the first item of the stream
    fs.put_bytes(bad.path, fs.read_bytes(bad.path)[:1000])
    expected = sum(int(check[k]["skipped"]) for k in range(STEPS * BATCH))
    assert expected >= 1

    summary = execute(plan)  # two forked loader workers read the bucket

    history = read_history(Path(summary["run_dir"]))
    assert [h["step"] for h in history] == [1, 2, 3]
    assert history[-1]["skipped_samples"] == expected  # counted, and nothing else went bad
    row = get_checkpoint(cat, summary["final_checkpoint_id"], stage="base", verify=True)
    assert checkpoint_file(row).is_relative_to(local) and not Path(row["path"]).is_absolute()

    fs.delete(bad.path)
    with pytest.raises(ValueError, match=f"dataset: sample files missing on disk: .*{bad.path}"):
        prepare(_params(tiny, data), cat, str(uuid.uuid4()))
