"""The scorer registry: the ``shots`` columns, the curation parameters and the default filter.

The ``shots`` schema is a catalog contract: the columns the registered scorers
fill must be its score columns exactly (names, types, order), and the rows
curation writes must be exactly its columns.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pyarrow as pa

from catalog.schema import SHOTS
from synthetic.curation_videos import pan_shot, still_shot
from tasks.videos.curate import DEFAULT_SHOT_FILTER, CurationParams, curate_frames, shot_rows
from tasks.videos.scorers import SCORERS, score_columns
from tasks.videos.shots import ShotDetection

# the columns curation fills itself: identity, frame range, the mined mode, dedup, lineage
NOT_SCORES = {
    "shot_id", "source_id", "uri", "start_frame", "end_frame", "frames", "fps", "mode",
    "mode_score", "mode_rule", "duplicate_of", "recipe_version", "params_json", "run_id",
    "created_at", "supersedes",
}  # fmt: skip
WRITTEN_BY_THE_LAKE = {"created_at", "supersedes"}


def test_registry_columns_are_the_schemas_score_columns_in_order():
    schema_scores = [(f.name, f.type) for f in SHOTS if f.name not in NOT_SCORES]
    assert score_columns() == schema_scores
    assert all(isinstance(t, pa.DataType) for _, t in score_columns())


def test_scorer_names_are_unique():
    assert len({s.name for s in SCORERS}) == len(SCORERS)


def test_every_curation_parameter_has_one_owner():
    """Each threshold belongs to shot detection, the analysis size, or exactly one scorer."""
    owners = Counter(p for s in SCORERS for p in s.params)
    assert all(n == 1 for n in owners.values()), owners
    detection = {f.name for f in dataclasses.fields(ShotDetection)}
    assert set(owners) | detection | {"analysis_width"} == set(CurationParams.model_fields)
    assert not set(owners) & detection


def test_each_scorers_filter_clause_is_in_the_default_filter():
    clauses = DEFAULT_SHOT_FILTER.split(" AND ")
    for scorer in SCORERS:
        assert scorer.keeps is None or scorer.keeps in clauses, scorer.name


def test_curated_rows_hold_exactly_the_shots_columns():
    frames = np.concatenate([pan_shot(16, 48, 64, 3), still_shot(16, 48, 64, 5)])
    shots = curate_frames(frames, 24.0, CurationParams())
    for s in shots:
        s.shot_id = f"shot-{s.start}"
    rows = shot_rows(shots, "src", "uri", 24.0, "1", CurationParams(), None)
    assert rows
    for row in rows:
        assert set(row) == set(SHOTS.names) - WRITTEN_BY_THE_LAKE
    pa.Table.from_pylist(rows, schema=SHOTS.remove(SHOTS.get_field_index("created_at")))
