"""Video curation: shots, per-shot scores, mined mode, duplicates (no Prefect here).

``curate_frames`` takes the frames the pipeline decoded (all of them, once)
and returns one ``Shot`` per shot (frames of a cross-fade or fade belong to
none): its frame range, black bars, blank share,
motion scores, perceptual hashes and the mined mode with the score and rule
that decided it. Each score is a registered scorer (``tasks.videos.scorers``,
one module each): ``score_shot`` runs them in order and ``shot_rows`` writes
their ``shots`` columns. ``ShotIndex`` marks shots whose hashes match an earlier shot
as duplicates. ``select_shots`` applies a dataset's SQL predicate over the
``shots`` rows, so a curated dataset is a query users can read and change.

Mode mining (thresholds in ``CurationParams``, units: % of the frame diagonal
per second, see ``tasks.videos.scores``; medians over ``pairs_per_shot`` pairs
of frames ``pair_seconds`` apart):

* ``static``      motion (98th percentile of the optical flow) < ``static_motion``:
  nothing moves;
* ``freeze_time`` otherwise, scene motion (the flow left once the camera is
  undone, less its noise floor) < ``freeze_scene_motion``: the camera moves,
  the scene does not;
* ``dynamic``     otherwise: the scene moves.

How the thresholds were chosen: on the tuning part of a labelled set of real
footage (``tests/videos/real_footage.py``: Big Buck Bunny and the carphone
sequence, each shot in two encodings; confusion matrices in docs/data.md).
Held frames move 0.01-0.03, the slowest real motion (a rabbit stretching)
3.7: ``static_motion`` = 1.0. Scene motion of pans and zooms over still real
frames is 0.05-0.94 (fine encodings) and up to 2.14 (a 122-pixel crop at crf
34); real subject motion is 2.44-8.4 (the stretching rabbit lowest):
``freeze_scene_motion`` = 2.3, between the two, erring towards ``dynamic``
(a moving clip mined as freeze-time teaches the freeze-time mode that the
world moves; the reverse only loses a clip). Pairs 0.32 s apart (not 2
frames): slow real motion adds up over the gap while codec noise does not
(at 2 frames the rabbit and the noisiest pan overlap). ``dedup_bits`` = 8 of
64: re-encodes of the same frames differ by 0-4 bits, frames of one pan 2 px
apart by ~8, different scenes by ~30; a mirrored copy is matched through its
``phash_mirrored`` hashes (the flipped frames).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from pydantic import Field

from catalog.ids import canonical_json
from core.flow_params import FlowParams
from core.video import DEFAULT_MAX_DECODED_BYTES, decode_all
from tasks.videos.scorers import SCORERS, ShotFrames, shot_borders
from tasks.videos.scores import Borders, shrink, to_gray
from tasks.videos.shots import (
    ShotDetection,
    absorb_cuts,
    detect_cuts,
    detect_transitions,
    shot_ranges,
)
from tasks.videos.transitions import HALF_WIDTHS

MODES_MINED = ("static", "freeze_time", "dynamic")
DEFAULT_SHOT_FILTER = (
    "mode <> 'static' AND duplicate_of IS NULL AND frames >= 16 AND blank_fraction < 0.5"
)
SELECT_SHOTS = "SELECT shot_id FROM shots WHERE ({where})"


class CurationError(Exception):
    """A video curation cannot use; ``str(e)`` is the catalog reason."""


class CurationParams(FlowParams):
    """The curation recipe: every threshold, with the reason for its default in the module doc."""

    analysis_width: int = Field(160, ge=32, le=1024, description="Width of the motion analysis")
    cut_threshold: float = Field(27.0, gt=0, le=255, description="ContentDetector threshold")
    fade_threshold: float = Field(12.0, gt=0, le=255, description="Fade-to-black mean luma")
    min_shot_frames: int = Field(8, ge=1, le=10000, description="No two cuts closer than this")
    dissolve_change: float = Field(
        12.0, gt=0, le=255, description="Cross-fade: RMS grey change between its ends, at least"
    )
    dissolve_residual: float = Field(
        0.4, gt=0, le=1, description="Cross-fade: share of that change a blend leaves, at most"
    )
    static_motion: float = Field(1.0, ge=0, description="Below: static (%diag/s)")
    freeze_scene_motion: float = Field(2.3, ge=0, description="Below: freeze_time (%diag/s)")
    pair_gap: int = Field(2, ge=1, le=30, description="Fewest frames between a pair's frames")
    pair_seconds: float = Field(
        0.32, ge=0, le=2.0, description="Time between a pair's frames (at least pair_gap)"
    )
    pairs_per_shot: int = Field(8, ge=1, le=256, description="Frame pairs measured per shot")
    border_level: float = Field(20.0, ge=0, le=255, description="Bars: mean luma at most this")
    black_level: float = Field(16.0, ge=0, le=255, description="Near-black frame: mean luma")
    flat_std: float = Field(3.0, ge=0, le=128, description="Near-constant frame: luma std")
    dedup_bits: int = Field(8, ge=0, le=32, description="Duplicate: every hash within this")

    def detection(self) -> ShotDetection:
        return ShotDetection(
            self.cut_threshold,
            self.fade_threshold,
            self.min_shot_frames,
            self.dissolve_change,
            self.dissolve_residual,
        )


@dataclass
class Shot:
    """One shot: ``[start, end)`` frame indices of the decoded video, scores, mined mode."""

    start: int
    end: int
    mode: str
    mode_score: float  # the score that decided the mode
    mode_rule: str  # e.g. "scene_motion 0.4 < freeze_scene_motion 5"
    motion: float
    camera_motion: float
    scene_motion: float
    explained: float
    blank_fraction: float
    borders: Borders
    phash: list[int]
    phash_mirrored: list[int] = field(default_factory=list)  # of the flipped content
    duplicate_of: str | None = None
    shot_id: str | None = None

    @property
    def frames(self) -> int:
        return self.end - self.start

    def to_json(self) -> dict:
        d = asdict(self)
        d["borders"] = asdict(self.borders)
        return d


# ---- curating one video ---------------------------------------------------------------


def curate_frames(frames: np.ndarray, fps: float, params: CurationParams) -> list[Shot]:
    """Shots of a decoded video ``uint8 [N, H, W, 3]`` at ``fps``, scored and labelled."""
    if len(frames) < 2:
        raise CurationError(f"{len(frames)} frame(s): a shot needs at least 2 to measure motion")
    small = shrink(frames, params.analysis_width)
    detection = params.detection()
    cuts, fades = absorb_cuts(
        detect_cuts(small, fps, detection), detect_transitions(small, detection), max(HALF_WIDTHS)
    )
    scale = small.shape[2] / frames.shape[2]
    return [
        score_shot(frames, small, a, b, fps, scale, params)
        for a, b in shot_ranges(cuts, len(frames), fades)
    ]


def score_whole(frames: np.ndarray, fps: float, params: CurationParams) -> Shot:
    """All of ``frames`` scored and labelled as one shot (no cut detection)."""
    small = shrink(frames, params.analysis_width)
    return score_shot(frames, small, 0, len(frames), fps, small.shape[2] / frames.shape[2], params)


def score_shot(
    frames: np.ndarray,
    small: np.ndarray,
    start: int,
    end: int,
    fps: float,
    scale: float,
    params: CurationParams,
) -> Shot:
    """Every registered score of frames ``[start, end)`` (``tasks.videos.scorers``); mines the mode."""
    borders = shot_borders(frames, start, end, params)
    content = _scaled(borders, scale).crop(small[start:end])
    view = ShotFrames(frames, start, end, fps, borders, content, to_gray(content))
    scores: dict = {}
    for scorer in SCORERS:
        scores |= scorer.compute(view, params)
    mode, score, rule = mine_mode(scores["motion"], scores["scene_motion"], params)
    return Shot(start=start, end=end, mode=mode, mode_score=score, mode_rule=rule, **scores)


def _scaled(borders: Borders, scale: float) -> Borders:
    """Bars in analysis pixels, rounded inwards (never a bar row left in the content)."""
    up = [int(np.ceil(v * scale - 1e-6)) for v in asdict(borders).values()]
    return Borders(*up)


def mine_mode(motion: float, scene: float, params: CurationParams) -> tuple[str, float, str]:
    """``(mode, deciding score, rule)`` from a shot's motion and scene motion."""
    if motion < params.static_motion:
        return "static", motion, f"motion {motion:.3g} < static_motion {params.static_motion:g}"
    limit = params.freeze_scene_motion
    if scene < limit:
        return "freeze_time", scene, f"scene_motion {scene:.3g} < freeze_scene_motion {limit:g}"
    return "dynamic", scene, f"scene_motion {scene:.3g} >= freeze_scene_motion {limit:g}"


# ---- duplicates -----------------------------------------------------------------------


@dataclass
class ShotIndex:
    """Perceptual hashes of the shots of a build; the lowest-ranked shot of a look wins.

    A shot duplicates another when each of its hashes (at 1/4, 1/2, 3/4 of the
    shot), or each of its mirrored hashes (the same frames flipped left to
    right: a mirrored re-upload), is within ``max_bits`` of the other's hashes
    and the other ranks lower: shots
    known from the catalog first, then by the video's place in the build's input
    order, then by start frame (without a rank: in the order they are checked).
    ``duplicate_of`` is the lowest-ranked such shot. ``check`` answers from the
    shots registered so far; ``final`` answers over all of them, and depends only
    on the shots and their ranks, never on which worker finished first. Asking
    again about a known shot id keeps its rank (reruns are stable).
    """

    max_bits: int = 8
    ids: list[str] = field(default_factory=list)
    ranks: list[tuple[int, int]] = field(default_factory=list)
    hashes: list[list[int]] = field(default_factory=list)
    mirrored: list[list[int] | None] = field(default_factory=list)
    position: dict[str, int] = field(default_factory=dict)

    def seed(self, shot_id: str, hashes: list[int]) -> None:
        """An original shot known before this build (from the catalog): never a duplicate.

        Its mirrored hashes are not needed: a later mirrored copy of it matches
        it with its own mirrored hashes."""
        self._add(shot_id, hashes, None, (-1, len(self.ids)))

    def check(
        self,
        shot_id: str,
        hashes: list[int],
        rank: tuple[int, int] | None = None,
        mirrored: list[int] | None = None,
    ):
        """Register a shot (if new) and return the shot id it duplicates, or None."""
        if shot_id not in self.position:
            rank = rank if rank is not None else (len(self.ids), 0)
            self._add(shot_id, hashes, mirrored or None, rank)
        return self._original(self.position[shot_id], self._matrix())

    def check_all(self, shots: list[Shot], order: int | None = None) -> list[Shot]:
        """``check`` every shot of one video (``order``: the video's place in the build)."""
        for s in shots:
            rank = None if order is None else (order, s.start)
            s.duplicate_of = self.check(s.shot_id, s.phash, rank, s.phash_mirrored)
        return shots

    def final(self) -> dict[str, str | None]:
        """Every registered shot id -> the shot it duplicates (None for originals)."""
        matrix = self._matrix()
        return {sid: self._original(i, matrix) for i, sid in enumerate(self.ids)}

    def _add(self, shot_id: str, hashes: list[int], mirrored, rank: tuple[int, int]) -> None:
        self.position[shot_id] = len(self.ids)
        self.ids.append(shot_id)
        self.ranks.append(rank)
        self.hashes.append(list(hashes))
        self.mirrored.append(list(mirrored) if mirrored else None)

    def _matrix(self) -> np.ndarray:
        return np.asarray(self.hashes, dtype=np.int64).view(np.uint64).reshape(len(self.ids), -1)

    def _near(self, matrix: np.ndarray, hashes) -> np.ndarray:
        probe = np.asarray(hashes, dtype=np.int64).view(np.uint64)
        return (np.bitwise_count(matrix ^ probe) <= self.max_bits).all(axis=1)

    def _original(self, i: int, matrix: np.ndarray) -> str | None:
        if self.ranks[i][0] < 0:  # known original
            return None
        near = self._near(matrix, self.hashes[i])
        if self.mirrored[i] is not None:
            near |= self._near(matrix, self.mirrored[i])
        earlier = [j for j in np.flatnonzero(near) if self.ranks[j] < self.ranks[i]]
        return self.ids[min(earlier, key=self.ranks.__getitem__)] if earlier else None


# ---- catalog rows and the SQL filter -----------------------------------------------------


def shot_rows(
    shots: list[Shot],
    source_id: str,
    uri: str,
    fps: float,
    recipe_version: str,
    params: CurationParams,
    run_id: str | None,
) -> list[dict]:
    """``shots`` table rows (``catalog.schema.SHOTS``); the score columns come from the scorers."""
    params_json = canonical_json(params.model_dump())
    return [
        {
            "shot_id": s.shot_id,
            "source_id": source_id,
            "uri": uri,
            "start_frame": s.start,
            "end_frame": s.end,
            "frames": s.frames,
            "fps": fps,
            "mode": s.mode,
            "mode_score": s.mode_score,
            "mode_rule": s.mode_rule,
            **score_values(s),
            "duplicate_of": s.duplicate_of,
            "recipe_version": recipe_version,
            "params_json": params_json,
            "run_id": run_id,
        }
        for s in shots
    ]


def score_values(shot: Shot) -> dict:
    """The ``shots`` score columns of one shot, from every registered scorer."""
    out: dict = {}
    for scorer in SCORERS:
        out |= scorer.values(shot)
    return out


def assign_shot_ids(
    shots: list[Shot], source_sha: str, recipe_version: str, params: CurationParams
) -> list[Shot]:
    """Ids from the video's bytes, the frame range, the recipe version and parameters."""
    from catalog.ids import shot_id

    for s in shots:
        s.shot_id = shot_id(source_sha, s.start, s.end, recipe_version, params.model_dump())
    return shots


def select_shots(rows: list[dict], where: str) -> set[str]:
    """Ids of the rows matching the SQL predicate ``where`` over a ``shots`` table.

    Runs in an in-memory DuckDB that holds only these rows and may not read
    files (not even its temp directory: spilling is off); only one SELECT is accepted.
    """
    import duckdb
    import pyarrow as pa

    from catalog.readonly import ReadOnlyQueryError, check_select_only, sandbox_connection
    from catalog.schema import SHOTS

    sql = SELECT_SHOTS.format(where=where)
    try:
        check_select_only(sql)
    except ReadOnlyQueryError as e:
        raise ValueError(f"shot_filter: not a valid predicate: {e}") from None
    full = [{name: r.get(name) for name in SHOTS.names} for r in rows]
    table = pa.Table.from_pylist(full, schema=SHOTS)
    # no spilling: DuckDB would allow its temp directory (<cwd>/.tmp) to be read
    con = sandbox_connection()
    try:
        con.register("shots", table)
        return set(con.sql(sql).to_arrow_table().column("shot_id").to_pylist())
    except duckdb.Error as e:
        raise ValueError(f"shot_filter: {where!r} fails: {str(e).splitlines()[0]}") from None
    finally:
        con.close()


def check_shot_filter(where: str) -> str:
    """``where`` if it runs over an empty ``shots`` table, else ``ValueError`` (before work)."""
    if not where.strip():
        raise ValueError("shot_filter: empty (use 'true' to keep every shot)")
    select_shots([], where)
    return where


# ---- one file, start to end (the CLI and the builds share it) ---------------------------


def curate_video(
    path,
    params: CurationParams | None = None,
    recipe_version: str = "1",
    max_bytes: int = DEFAULT_MAX_DECODED_BYTES,
):
    """``(meta, frames, shots)`` of one file, duplicates marked within the file.

    Raises ``VideoError`` (unusable video) or ``CurationError`` (e.g. one frame).
    """
    from core.io import sha256_file
    from core.video import probe_video

    params = params or CurationParams()
    meta = probe_video(path)
    frames = decode_all(path, meta, max_bytes)
    shots = curate_frames(frames, meta.fps, params)
    assign_shot_ids(shots, sha256_file(path), recipe_version, params)
    ShotIndex(params.dedup_bits).check_all(shots)
    return meta, frames, shots
