"""Prefect tasks of the object build: thin wrappers over ``tasks.objects.build``."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from catalog.store import Catalog
from core.sheets import write_contact_sheet
from renderers.sources import (
    Selection,
)
from tasks.objects.build import (
    FAILED,
    OK,
    BuildConfig,
    SourceItem,
    discover_sources,
    hash_sources,
    plan_jobs,
    render_jobs,
    result_rows,
    unreadable_rows,
)
from tasks.progress import progress_bar
from tasks.recording import StreamRecorder, stop_requested


def _transient(task, task_run, state) -> bool:
    """Retry a failure of the network, not a bad source or a file missing offline."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, ValueError | FileNotFoundError)


@task(
    name="discover_objects",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=_transient,
)
def discover_sources_task(
    source: str,
    selection: Selection | None,
    objaverse_cache: str | None,
    ray_address: str | None = None,
) -> list[SourceItem]:
    """Find (and for Objaverse, fetch on the workers) the objects, then hash them."""
    items = hash_sources(discover_sources(source, selection, objaverse_cache, ray_address))
    get_run_logger().info("%d objects from %s", len(items), source)
    return items


@task(name="plan_render_jobs", cache_policy=NO_CACHE)
def plan_jobs_task(items: list[SourceItem], cfg: BuildConfig) -> tuple[list[dict], list[dict]]:
    """Sample ids for every object; skip those already ok in the catalog."""
    jobs, skipped = plan_jobs(items, cfg, Catalog())
    get_run_logger().info("%d to render, %d already done", len(jobs), len(skipped))
    return jobs, skipped


@task(name="render_grids", cache_policy=NO_CACHE)
def render_jobs_task(
    items: list[SourceItem],
    jobs: list[dict],
    cfg: BuildConfig,
    run_id: str,
    ray_address: str | None,
    num_workers: int | None,
    timeout_s: float,
    max_retries: int,
) -> list[dict | None]:
    """Render every job on Ray actors (each worker writes its own grid file) and record
    the results in the catalog as they arrive, in batches (``tasks.recording``)."""
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    logger = get_run_logger()
    progress = create_progress_artifact(0.0, description="objects rendered") if jobs else None
    bar = progress_bar(len(jobs), "render")
    with StreamRecorder(Catalog(), result_rows(items, jobs, cfg, run_id)) as recorder:
        unreadable = unreadable_rows(items, run_id)
        if unreadable:
            recorder.catalog.append("sources", unreadable)

        done = 0

        def on_result(res: dict) -> None:
            nonlocal done
            done += 1
            recorder.add(res)
            bar.update(1)
            update_progress_artifact(progress, 100.0 * done / len(jobs))
            logger.info("%d/%d %s %s", done, len(jobs), res["status"], res["error"] or res["out"])

        try:
            # a SIGTERM/SIGINT stops the fan-out; the recorder then records what finished
            return render_jobs(
                jobs,
                ray_address,
                num_workers,
                timeout_s,
                max_retries,
                on_result,
                recorder.tick,
                should_stop=stop_requested,
            )
        finally:
            bar.close()


@task(name="publish_summary", cache_policy=NO_CACHE)
def publish_summary_task(
    table: list[dict], grid_paths: list[str], sheet_path: str, flow_name: str
) -> str | None:
    """Table artifact (ok / failed / skipped) and a contact sheet PNG of a few grids."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    counts = {s: sum(r["status"] == s for r in table) for s in (OK, FAILED, "skipped")}
    create_table_artifact(
        table=table,
        key=flow_name.replace("_", "-") + "-summary",
        description=f"{flow_name}: {counts}",
    )
    if not grid_paths:
        return None
    sheet = write_contact_sheet(grid_paths, sheet_path)
    create_markdown_artifact(
        key=flow_name.replace("_", "-") + "-contact-sheet",
        markdown=f"### Contact sheet\n\n{len(grid_paths)} grids (rows = views, columns = "
        f"times), one below the other.\n\nPNG: `{sheet}`\n",
        description="contact sheet of rendered grids",
    )
    return str(sheet)
