"""``bench/catalog.py`` at toy size: both layouts, upserts, compaction, small appends and
concurrent writers run, the bench's own result checks pass, and its rows are the schema's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from catalog.schema import SAMPLES
from core.paths import REPO_ROOT

TOY = ["--rows", "10000", "--small-appends", "3", "--writers", "2", "--writer-appends", "2"]


def test_bench_rows_have_every_samples_column():
    """A column added to ``samples`` cannot break the bench again (it crashed on ``bytes``)."""
    from bench.catalog import make_rows

    rows = make_rows(4, offset=7)
    assert rows.schema == SAMPLES
    again = make_rows(2, offset=9)  # the same index gives the same key: upserts replace
    assert again.column("sample_id").to_pylist() == rows.column("sample_id").to_pylist()[2:]
    assert len(set(rows.column("sample_id").to_pylist())) == 4


@pytest.mark.timeout(600)
def test_catalog_bench_runs_at_toy_size():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "bench.catalog", *TOY]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for line in ("upsert 10k", "query compacted", "single-row appends", "commits/s"):
        assert line in run.stdout, run.stdout[-3000:]
