"""``bench/memory.py`` at toy size: every registry variant traced, soft the baseline, and the
fused attention's block-mask kernel traced below its dense-mask form."""

from __future__ import annotations

from bench.memory import main
from model.variants import VARIANT_NAMES


def test_memory_bench_traces_every_variant_at_toy_size(capsys):
    summary = main(["--preset", "tiny", "--grid", "4", "4", "--checkpointing", "off"])
    rows = summary["rows"]
    assert {name.split()[0] for name in rows} == set(VARIANT_NAMES)
    assert rows["soft"]["vs_soft"] == 1.0
    assert all(row["peak_bytes"] > 0 for row in rows.values())
    # the dense mask keeps an N x N tensor the block mask never builds
    assert rows["fused (block mask)"]["peak_bytes"] < rows["fused (dense mask)"]["peak_bytes"]
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("{")
