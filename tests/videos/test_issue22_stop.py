"""Issue 22, finding 7 for the video builders: a stop signal stops the fan-out.

``stop_on_signals`` turns the first SIGTERM into a flag (and restores the handlers);
``run_sources`` asked to stop cancels the videos not finished and returns exactly those
that finished (what the recorder then records), on a real local Ray.
"""

from __future__ import annotations

import os
import signal

from tasks.recording import stop_on_signals, stop_requested, stop_signal
from tasks.videos.build import SourceSpec, VideoJob, run_sources


def test_the_first_sigterm_sets_the_flag_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals():
        assert not stop_requested()
        os.kill(os.getpid(), signal.SIGTERM)  # handled in this thread, before the next line
        assert stop_requested() and stop_signal() == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is before  # a second one acts as usual
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stopped_video_fan_out_returns_what_finished(ray_session, videos, tmp_path):
    specs = [SourceSpec(str(p)) for p in videos.values()]
    job = VideoJob(kind="clip", times=4, height=32, width=64, out_dir=str(tmp_path), stride=1)
    seen = []
    results = run_sources(
        specs,
        job,
        frozenset(),
        on_result=lambda n, total, res: seen.append(res.source_row["uri"]),
        should_stop=lambda: len(seen) >= 1,
    )
    assert 1 <= len(results) < len(specs)  # it stopped before the last video
    assert sorted(r.source_row["uri"] for r in results) == sorted(seen)
    assert all(r.source_row["status"] == "ok" for r in results)
