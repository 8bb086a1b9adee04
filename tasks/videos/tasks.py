"""Prefect tasks of the ``build_pseudo4d`` / ``build_clips`` flows.

Thin wrappers over ``tasks.videos.build`` (kept apart so that Ray workers,
which only run ``process_source``, never import Prefect). Only IO tasks retry.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.logging import get_run_logger

from core import fs
from core.paths import data_root, relative_to_root
from core.sample_store import sample_path
from tasks.caching import cached_task_options
from tasks.progress import progress_bar
from tasks.recording import BuildStopped, StreamRecorder, stop_requested
from tasks.videos.build import (
    SourceResult,
    SourceSpec,
    VideoJob,
    completed_samples,
    contact_sheet,
    discover_sources,
    known_shots,
    recorded_remote,
    result_rows,
    run_sources,
    source_table,
    summarize,
)


@task(retries=3, retry_delay_seconds=[2, 5, 15])
def discover_sources_task(source: str) -> list[SourceSpec]:
    """List the input videos (folder, glob or manifest)."""
    return discover_sources(source)


@task
def completed_samples_task(job: VideoJob) -> frozenset[str]:
    """Sample ids of this recipe already ok with their file present (skipped on rerun)."""
    from catalog.store import Catalog

    return completed_samples(Catalog(), job)


@task
def known_shots_task(job: VideoJob) -> list[tuple[str, list[int]]]:
    """Original shots of this curation recipe in the catalog (later look-alikes are duplicates)."""
    from catalog.store import Catalog

    return known_shots(Catalog(), job)


# Cached across runs on the videos' bytes + the job (minus its run id) + the set
# of samples already done: rebuilding an unchanged corpus starts no Ray at all.
VIDEO_BUILD_CACHE_VERSION = 1


@task(
    **cached_task_options(
        "video-build",
        VIDEO_BUILD_CACHE_VERSION,
        content=("specs",),
        exclude=("job.run_id", "ray_address", "num_cpus"),
        serializer="pickle",
    )
)
def process_sources_task(
    specs: list[SourceSpec],
    job: VideoJob,
    done: frozenset[str],
    ray_address: str | None,
    num_cpus: int | None,
    known: list[tuple[str, list[int]]] = (),
) -> list[SourceResult]:
    """Fan the videos out over Ray; record each video's rows in the catalog as it finishes
    (batches, ``tasks.recording``), with progress in the log and on the terminal."""
    from catalog.store import Catalog

    logger = get_run_logger()
    bar = progress_bar(len(specs), "videos")

    def progress(n: int, total: int, res: SourceResult) -> None:
        recorder.add(res)
        bar.update(1)
        src = res.source_row
        ok = sum(r["status"] == "ok" for r in res.sample_rows)
        logger.info(
            "[%d/%d] %s: %s, %d written, %d skipped%s",
            n,
            total,
            src["uri"],
            src["status"],
            ok,
            len(res.skipped),
            f" ({src['error']})" if src["error"] else "",
        )

    catalog = Catalog()
    recorded = recorded_remote(catalog, job, done)  # remote videos built before: not fetched
    with StreamRecorder(catalog, result_rows) as recorder:
        try:
            results = run_sources(
                specs,
                job,
                done,
                ray_address,
                num_cpus,
                on_result=progress,
                on_idle=recorder.tick,
                known=known,
                on_settle=recorder.add,
                should_stop=stop_requested,  # SIGTERM/SIGINT: no more videos
                recorded=recorded,
            )
        finally:
            bar.close()
    if stop_requested():  # recorded above; raised so that the partial answer is not cached
        raise BuildStopped(results)
    return results


SHEET_SAMPLES = 4
SHEET_INLINE_BYTES = 256 * 1024


@task
def publish_summary_task(
    results: list[SourceResult], job: VideoJob, flow_name: str, run_id: str
) -> dict:
    """Contact sheet PNG under the data root, a table artifact and a markdown artifact."""
    summary = summarize(results, run_id)
    paths = [r["path"] for res in results for r in res.sample_rows if r["status"] == "ok"]
    if not paths:  # a rerun that skipped everything still shows what exists
        paths = [sample_path(job.out_dir, s) for s in summary["skipped_ids"]]
    shown = [p for p in paths[: 4 * SHEET_SAMPLES] if fs.exists(p)][:SHEET_SAMPLES]
    # Named by what it shows (content-addressed sample files), so a rerun that
    # shows the same samples reuses the sheet instead of drawing it again.
    digest = hashlib.sha256("\n".join(Path(p).name for p in shown).encode()).hexdigest()[:16]
    sheet_path = Path(job.out_dir) / "contact_sheets" / f"{digest}.png"
    sheet = (
        sheet_path
        if sheet_path.is_file()
        else contact_sheet(shown, sheet_path, max_samples=SHEET_SAMPLES)
    )
    summary["contact_sheet"] = None if sheet is None else relative_to_root(sheet)
    key = flow_name.replace("_", "-")
    create_table_artifact(
        source_table(results), key=f"{key}-sources", description=f"{flow_name}: one row per video"
    )
    lines = [
        f"# {flow_name}",
        "",
        "| videos | failed videos | samples written | skipped (already ok) | failed samples |",
        "|---|---|---|---|---|",
        f"| {summary['sources']} | {summary['sources_failed']} | {summary['samples_written']} "
        f"| {summary['samples_skipped']} | {summary['samples_failed']} |",
        "",
        f"Contact sheet: `{summary['contact_sheet']}` (under the data root `{fs.home().uri}`)"
        if sheet
        else "No samples, no contact sheet.",
    ]
    if summary["failures"]:
        lines += ["", "## Failures", ""]
        lines += [
            f"- `{f.get('uri') or f.get('sample_id')}`: {f['error']}" for f in summary["failures"]
        ]
    create_markdown_artifact(
        "\n".join(lines), key=f"{key}-summary", description=f"{flow_name} summary"
    )
    for res in results:
        if res.sheet is not None:
            publish_curation_sheet(res, data_root())
    return summary


def publish_curation_sheet(res: SourceResult, root: Path) -> None:
    """One markdown artifact per curated video: its contact sheet and a table of its shots."""
    sheet = root / res.sheet
    lines = [
        f"# Shots of `{res.source_row['uri']}`",
        "",
        f"Contact sheet: `{res.sheet}` (under the data root `{root}`)",
        "",
    ]
    if sheet.stat().st_size <= SHEET_INLINE_BYTES:  # small enough to show in the UI itself
        data = base64.b64encode(sheet.read_bytes()).decode()
        lines += [f"![shots](data:image/png;base64,{data})", ""]
    lines += [
        "| frames | mode | decided by | motion | camera | scene | blank | bars t/b/l/r | duplicate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res.shot_rows:
        bars = "/".join(str(r[f"border_{k}"]) for k in ("top", "bottom", "left", "right"))
        lines.append(
            f"| [{r['start_frame']}, {r['end_frame']}) | {r['mode']} | {r['mode_rule']} "
            f"| {r['motion']:.2f} | {r['camera_motion']:.2f} | {r['scene_motion']:.2f} "
            f"| {r['blank_fraction']:.2f} | {bars} | {r['duplicate_of'] or ''} |"
        )
    create_markdown_artifact(
        "\n".join(lines),
        key=f"curation-{res.source_row['source_id'][:16]}",
        description=f"curation of {res.source_row['uri']}",
    )
