"""Duplicate shots across the videos of one build (a Ray actor holds the shared index).

``ShotIndexActor`` holds one ``ShotIndex`` seeded with the catalog's known
shots; each worker checks its video's shots in one round trip
(``RemoteShotIndex``); ``settle_duplicates`` applies the final answers to the
videos that finished before a lower-ranked look-alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.ids import canonical_json
from core.paths import data_root
from tasks.videos.curate import (
    CurationParams,
    Shot,
    ShotIndex,
    select_shots,
)
from tasks.videos.job import SourceResult, VideoJob

SQL_KNOWN_SHOTS = """
SELECT shot_id, phash FROM shots
WHERE duplicate_of IS NULL AND recipe_version = ? AND params_json = ?
ORDER BY created_at, shot_id
"""


def known_shots(catalog, job: VideoJob) -> list[tuple[str, list[int]]]:
    """Original (not duplicate) shots of this curation recipe already in the catalog."""
    if job.curation is None:
        return []
    params_json = canonical_json(CurationParams(**job.curation).model_dump())
    rows = catalog.rows(SQL_KNOWN_SHOTS, [job.recipe_version, params_json])
    return [(r["shot_id"], list(r["phash"])) for r in rows]


class ShotIndexActor:
    """A ``ShotIndex`` shared by the Ray tasks of one build."""

    def __init__(self, max_bits: int, known: list[tuple[str, list[int]]]):
        self.index = ShotIndex(max_bits)
        for shot_id, hashes in known:
            self.index.seed(shot_id, hashes)

    def check_batch(self, items: list[tuple]) -> list:
        """``(shot_id, hashes, rank, mirrored hashes)`` per shot -> what each duplicates."""
        return [self.index.check(*item) for item in items]

    def final(self) -> dict[str, str | None]:
        return self.index.final()


@dataclass(frozen=True)
class RemoteShotIndex:
    """What ``process_source`` calls on a Ray worker: one round trip per video."""

    actor: object
    order: int  # the video's place in the build's input order (its shots' rank)

    def check_all(self, shots: list[Shot]) -> list[Shot]:
        import ray

        items = [(s.shot_id, s.phash, (self.order, s.start), s.phash_mirrored) for s in shots]
        for s, original in zip(shots, ray.get(self.actor.check_batch.remote(items)), strict=True):
            s.duplicate_of = original
        return shots


def settle_duplicates(
    results: list[SourceResult], final: dict, job: VideoJob
) -> list[SourceResult]:
    """Apply the index's final answers; returns the results it changed.

    A video that finished before a lower-ranked look-alike had its shots taken
    as originals: they are marked duplicate now, and its clips of them are
    deleted and moved to ``retracted`` as failed rows (recorded rows are
    superseded, never left pointing at a removed file).
    """
    root = data_root()
    changed_results = []
    for res in results:
        changed = [
            r
            for r in res.shot_rows
            if final.get(r["shot_id"], r["duplicate_of"]) != r["duplicate_of"]
        ]
        if not changed:
            continue
        for r in changed:
            r["duplicate_of"] = final[r["shot_id"]]
        keep = select_shots(res.shot_rows, job.shot_filter)
        res.shots_selected = len(keep)
        for r in res.sample_rows:
            if _shot_of(r) not in keep:
                if r["path"]:
                    (root / r["path"]).unlink(missing_ok=True)
                error = "retracted: its shot repeats a shot of an earlier video"
                res.retracted.append(r | {"status": "failed", "error": error, "path": None})
        res.sample_rows = [r for r in res.sample_rows if _shot_of(r) in keep]
        changed_results.append(res)
    return changed_results


def _shot_of(sample_row: dict) -> str | None:
    import json

    return json.loads(sample_row["params_json"]).get("shot_id")
