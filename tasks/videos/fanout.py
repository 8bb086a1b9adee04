"""Every video of a build on Ray, one task each, in input order (``run_sources``)."""

from __future__ import annotations

from tasks.recording import rearm_stop_signals
from tasks.videos.curate import CurationParams
from tasks.videos.duplicates import RemoteShotIndex, ShotIndexActor, settle_duplicates
from tasks.videos.job import SourceResult, VideoJob
from tasks.videos.process import process_source
from tasks.videos.resume import RecordedSource
from tasks.videos.sources import SourceSpec, source_row


def run_sources(
    specs: list[SourceSpec],
    job: VideoJob,
    done: frozenset[str],
    ray_address: str | None = None,
    num_cpus: int | None = None,
    on_result=None,
    on_idle=None,
    known: list[tuple[str, list[int]]] = (),
    on_settle=None,
    should_stop=None,
    recorded: dict[tuple[str, str], RecordedSource] | None = None,
) -> list[SourceResult]:
    """``process_source`` for every spec on Ray (one task per video), in input order.

    ``recorded`` (``recorded_remote``): remote videos already built; their results
    are the recorded rows, with their samples as skipped, and nothing is fetched.

    ``should_stop()`` is asked on every wait: once it says yes, the videos not yet
    finished are cancelled and left out of the results (a stopped build returns what
    finished; the rerun does the rest).

    ``on_result(n, total, result)`` as each video finishes; ``on_idle()`` at least every
    half second while waiting (what the caller does with time, e.g. flush recorded rows).
    With curation, one ``ShotIndexActor`` (seeded with ``known`` shots) marks
    duplicates across all videos of the build; the earlier video in ``specs``
    keeps a look, whichever finishes first: ``settle_duplicates`` corrects the
    videos that finished too early, and ``on_settle(result)`` gets each of them.
    """
    recorded = recorded or {}
    # remote videos already built: answered here, fetched by no worker, recorded again by no one
    ahead = {
        k: SourceResult(recorded[spec.key].source_row, [], list(recorded[spec.key].sample_ids))
        for k, spec in enumerate(specs)
        if spec.url is not None and spec.error is None and spec.key in recorded
    }
    if len(ahead) == len(specs):
        return [ahead[k] for k in range(len(specs))]
    import ray

    from core.raycluster import ensure_ray

    ensure_ray(ray_address, num_cpus)
    rearm_stop_signals()  # Ray's driver replaces the SIGTERM handler under Python's
    remote = ray.remote(num_cpus=1, max_retries=1)(process_source)
    job_ref, done_ref = ray.put(job), ray.put(done)
    actor = None
    if job.curation is not None:
        max_bits = CurationParams(**job.curation).dedup_bits
        actor = ray.remote(num_cpus=0)(ShotIndexActor).remote(max_bits, known)
    pending = {
        remote.remote(spec, job_ref, done_ref, actor and RemoteShotIndex(actor, k)): k
        for k, spec in enumerate(specs)
        if k not in ahead
    }
    results: list[SourceResult | None] = [ahead.get(k) for k in range(len(specs))]
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        if on_idle is not None:
            on_idle()
        for ref in ready:
            k = pending.pop(ref)
            try:
                results[k] = ray.get(ref)
            except Exception as e:  # a worker died (e.g. a decoder crash): record it
                spec = specs[k]
                row = source_row(
                    spec,
                    None,
                    None,
                    None,
                    f"worker failed: {type(e).__name__}: {str(e)[:300]}",
                    job.run_id,
                )
                results[k] = SourceResult(row, [], [])
            if on_result is not None:
                on_result(len(specs) - len(pending), len(specs), results[k])
        if pending and should_stop is not None and should_stop():
            for ref in pending:
                ray.cancel(ref, force=True)  # queued ones never start, running ones end now
            break
    finished = [r for r in results if r is not None]
    if actor is not None and any(r.shot_rows for r in finished):  # else nothing to settle
        final = ray.get(actor.final.remote())
        for res in settle_duplicates(finished, final, job):
            if on_settle is not None:
                on_settle(res)
    return finished


def result_rows(res: SourceResult) -> dict[str, list[dict]]:
    """Catalog rows of one video's result (for ``tasks.recording.StreamRecorder``)."""
    return {
        "sources": [res.source_row],
        "shots": res.shot_rows,
        "samples": res.sample_rows + res.retracted,
    }
