"""A build's summary: counts, ids and failure reasons, the per-video table, a contact sheet."""

from __future__ import annotations

from pathlib import Path

from tasks.videos.curate import MODES_MINED
from tasks.videos.job import SourceResult


def contact_sheet(
    sample_paths: list[str | Path], out: Path, tile_width: int = 128, max_samples: int = 4
) -> Path | None:
    """A PNG of up to ``max_samples`` samples (``core.sheets``); None if none."""
    from core.sheets import write_contact_sheet

    shown = list(sample_paths[:max_samples])
    return write_contact_sheet(shown, out, max_side=tile_width) if shown else None


def first_per_key(rows: list[dict], key: str) -> list[dict]:
    """``rows`` without the later ones whose ``key`` repeats an earlier row's."""
    seen: set = set()
    out = []
    for r in rows:
        if r[key] not in seen:
            seen.add(r[key])
            out.append(r)
    return out


def summarize(results: list[SourceResult], run_id: str | None) -> dict:
    """Counts, ids and failure reasons of one build (the flow's return value)."""
    ok = first_per_key(
        [r for res in results for r in res.sample_rows if r["status"] == "ok"], "sample_id"
    )
    failed = [r for res in results for r in res.sample_rows if r["status"] != "ok"]
    bad_sources = [res.source_row for res in results if res.source_row["status"] != "ok"]
    shots = first_per_key([r for res in results for r in res.shot_rows], "shot_id")
    sources = [res.source_row for res in results]
    return {
        "run_id": run_id,
        "sources": len(results),
        "sources_failed": len(bad_sources),
        "shots": len(shots),
        "shots_selected": sum(res.shots_selected for res in results),
        "shots_too_short": sum(res.shots_too_short for res in results),
        "shots_duplicate": sum(r["duplicate_of"] is not None for r in shots),
        "sources_same_bytes": len(results) - len(first_per_key(sources, "source_id")),
        # remote videos downloaded by this run (a rebuild skips those already built)
        "sources_fetched": sum(res.fetched_bytes is not None for res in results),
        "fetched_bytes": sum(res.fetched_bytes or 0 for res in results),
        "shot_modes": {m: sum(r["mode"] == m for r in shots) for m in MODES_MINED},
        "samples_written": len(ok),
        "samples_skipped": sum(len(res.skipped) for res in results),
        "samples_failed": len(failed),
        # every input that failed: a video refused before it made a sample row counts
        # once, a clip that failed counts once (never both: a refused video has no clips)
        "failed": len(bad_sources) + len(failed),
        "sample_ids": [r["sample_id"] for r in ok],
        "skipped_ids": [s for res in results for s in res.skipped],
        "failures": [{"uri": r["uri"], "error": r["error"]} for r in bad_sources]
        + [{"sample_id": r["sample_id"], "error": r["error"]} for r in failed],
    }


def source_table(results: list[SourceResult]) -> list[dict]:
    """One row per video for the summary table artifact."""
    out = []
    for res in results:
        rows = res.sample_rows
        out.append(
            {
                "uri": res.source_row["uri"],
                "status": res.source_row["status"],
                "written": sum(r["status"] == "ok" for r in rows),
                "skipped": len(res.skipped),
                "failed": sum(r["status"] != "ok" for r in rows),
                "shots": len(res.shot_rows),
                "shots_selected": res.shots_selected,
                "shots_too_short": res.shots_too_short,
                "error": res.source_row["error"]
                or next((r["error"] for r in rows if r["error"]), ""),
            }
        )
    return out
