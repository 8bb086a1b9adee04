"""What earlier builds left: samples already written, remote videos already built.

A rerun skips the samples ``completed_samples`` finds (ok in the catalog, file
present) and fetches no remote video ``recorded_remote`` finds.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.ids import canonical_json
from core import fs
from core.paths import store_location
from tasks.videos.job import VideoJob

SQL_DONE = """
SELECT sample_id, path FROM samples
WHERE status = 'ok' AND kind = ? AND recipe = ? AND recipe_version = ?
"""


def completed_samples(catalog, job: VideoJob) -> frozenset[str]:
    """Ids of samples of this recipe already ok in the catalog whose file is present."""
    rows = [
        r for r in catalog.rows(SQL_DONE, [job.kind, job.recipe, job.recipe_version]) if r["path"]
    ]
    # one listing of the output folder, not a check (on S3 a HEAD) per recorded sample
    present = fs.existing([r["path"] for r in rows], store_location(job.out_dir))
    return frozenset(r["sample_id"] for r in rows if r["path"] in present)


SQL_RECORDED_REMOTE = """
SELECT s.source_id, s.kind, s.uri, s.sha256, s.bytes, s.license, s.meta_json, s.status,
       s.error, s.run_id, x.sample_id, x.params_json
FROM sources s JOIN samples x ON x.source_id = s.source_id
WHERE s.status = 'ok' AND x.status = 'ok' AND x.kind = ? AND x.recipe = ?
  AND x.recipe_version = ?
  AND (s.uri LIKE 'http://%' OR s.uri LIKE 'https://%' OR s.uri LIKE 's3://%')
"""
SQL_FAILED_REMOTE = """
SELECT source_id, kind, uri, sha256, bytes, license, meta_json, status, error, run_id
FROM sources
WHERE kind = 'video'
  AND (uri LIKE 'http://%' OR uri LIKE 'https://%' OR uri LIKE 's3://%')
"""
SOURCE_COLUMNS = (
    "source_id", "kind", "uri", "sha256", "bytes", "license", "meta_json", "status", "error", "run_id"
)  # fmt: skip
# what varies from one clip of a video to the next, not from one build to the next
PER_CLIP_PARAMS = frozenset({"derived", "clip_index", "mode", "shot_id", "spans"})


@dataclass(frozen=True)
class RecordedSource:
    """A remote video already built with this job's parameters: its row and sample ids."""

    source_row: dict
    sample_ids: tuple[str, ...]


def recorded_remote(
    catalog, job: VideoJob, done: frozenset[str]
) -> dict[tuple[str, str], RecordedSource]:
    """Remote videos (by URL and spans) this job already built: a rebuild fetches none of them.

    A video counts when its ``sources`` row is ok and it has ok samples of this
    recipe and version, built with the job's parameters, whose files are
    present (``done``). Its ``(uri, spans)`` key is what the manifest says, so
    nothing is fetched to decide. Unless ``job.retry_failed``, a video whose
    only rows are failed ones (404, timeout, not a video) counts too, as that
    failure: a rebuild reports it again without fetching it.
    """
    import json

    found = {} if job.retry_failed else _failed_remote(catalog)

    wanted = _build_params(job.sample_params(0, None, "" if job.curation else None))
    for r in catalog.rows(SQL_RECORDED_REMOTE, [job.kind, job.recipe, job.recipe_version]):
        if r["sample_id"] not in done:
            continue
        if _build_params(json.loads(r["params_json"])) != wanted:
            continue
        spans = json.loads(r["meta_json"] or "{}").get("spans")
        key = (r["uri"], "" if spans is None else canonical_json(spans))
        row = {c: r[c] for c in SOURCE_COLUMNS}
        prev = found.get(key)
        ids = (prev.sample_ids if prev and prev.source_row["status"] == "ok" else ()) + (
            r["sample_id"],
        )
        found[key] = RecordedSource(row, tuple(sorted(set(ids))))
    return found


def _failed_remote(catalog) -> dict[tuple[str, str], RecordedSource]:
    """Remote videos (by URL and spans) with failed rows and no ok one."""
    import json

    failed, fine = {}, set()
    for r in catalog.rows(SQL_FAILED_REMOTE):
        spans = json.loads(r["meta_json"] or "{}").get("spans")
        key = (r["uri"], "" if spans is None else canonical_json(spans))
        if r["status"] == "ok":
            fine.add(key)
        else:
            failed[key] = RecordedSource(dict(r), ())
    return {k: v for k, v in failed.items() if k not in fine}


def _build_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in PER_CLIP_PARAMS}
