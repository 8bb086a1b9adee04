"""``StreamRecorder``'s batching rule, on a real catalog: a batch at most every 16 results
or once the oldest buffered result has waited 10 s, and what is left on exit.

No sleeping: the count rule is exercised by count; the time rule by a recorder whose
oldest buffered result is set to have arrived ``MAX_SECONDS`` ago (it has no clock of
its own to inject).
"""

from __future__ import annotations

import time

import pytest

from tasks.recording import MAX_RESULTS, MAX_SECONDS, StreamRecorder


def rows_of(i: int) -> dict[str, list[dict]]:
    return {"sources": [{"source_id": f"src{i:03d}", "kind": "glb", "status": "ok"}]}


def count(catalog) -> int:
    return catalog.read("sources").num_rows


def test_a_batch_every_sixteen_results_and_the_rest_on_exit(catalog):
    assert MAX_RESULTS == 16 and MAX_SECONDS == 10.0  # the rule the docs state
    seen: list[int] = []
    with StreamRecorder(catalog, rows_of, on_batch=seen.append) as rec:
        for i in range(MAX_RESULTS - 1):
            rec.add(i)
        assert (rec.batches, rec.recorded, count(catalog)) == (0, 0, 0)  # nothing yet
        rec.add(MAX_RESULTS - 1)  # the 16th: one batch of 16
        assert (rec.batches, rec.recorded, count(catalog)) == (1, 16, 16)
        for i in range(MAX_RESULTS, 2 * MAX_RESULTS + 3):
            rec.add(i)
        assert (rec.batches, rec.recorded, count(catalog)) == (2, 32, 32)
    assert (rec.batches, rec.recorded, count(catalog)) == (3, 35, 35)  # the last 3 on exit
    assert seen == [16, 32, 35]


def test_a_batch_once_the_oldest_result_waited_long_enough(catalog):
    rec = StreamRecorder(catalog, rows_of)
    rec.add(0)
    rec.add(1)
    rec.tick()  # just arrived: it waits for more
    assert (rec.batches, count(catalog)) == (0, 0)
    rec._oldest = time.monotonic() - MAX_SECONDS  # the first result came MAX_SECONDS ago
    rec.tick()
    assert (rec.batches, rec.recorded, count(catalog)) == (1, 2, 2)
    rec.add(2)  # a new batch starts its own wait
    assert (rec.batches, count(catalog)) == (1, 2)
    rec._oldest = time.monotonic() - MAX_SECONDS
    rec.add(3)  # add checks the wait too
    assert (rec.batches, rec.recorded, count(catalog)) == (2, 4, 4)
    rec.tick()
    rec.flush()  # nothing buffered: no empty batch
    assert rec.batches == 2


def test_smaller_limits_and_out_of_range_ones(catalog):
    with StreamRecorder(catalog, rows_of, max_results=3) as rec:
        for i in range(7):
            rec.add(i)
        assert (rec.batches, count(catalog)) == (2, 6)
    assert count(catalog) == 7
    for kw in ({"max_results": 0}, {"max_results": MAX_RESULTS + 1}):
        with pytest.raises(ValueError, match="max_results"):
            StreamRecorder(catalog, rows_of, **kw)
    for kw in ({"max_seconds": 0}, {"max_seconds": MAX_SECONDS + 1}):
        with pytest.raises(ValueError, match="max_seconds"):
            StreamRecorder(catalog, rows_of, **kw)
