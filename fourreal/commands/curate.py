"""``fourreal curate VIDEO [--json]``: the build's curation on one file.

Prints one line per shot (frame range, mined mode and the rule that decided
it, scores, bars, duplicate). With ``--json`` the last stdout line is::

    {"shots": [{"start": int, "end": int, "mode": str, "motion": float, ...}], "fps": float}

``start``/``end`` are frame indices of the decoded video, ``end`` exclusive.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def curate(
    video: Path = typer.Argument(..., help="Input video (any container/codec FFmpeg reads)"),
    as_json: bool = typer.Option(False, "--json", help="Last stdout line: the shots as JSON"),
    sheet: Path | None = typer.Option(None, "--sheet", help="Also write a contact sheet PNG"),
) -> None:
    """Split VIDEO into shots and score them: motion, camera vs scene, bars, blanks, mode."""
    from core.video import VideoError
    from tasks.videos.curate import CurationError, curate_video

    try:
        meta, frames, shots = curate_video(video)
    except (VideoError, CurationError) as e:
        console.print(f"[red]error:[/red] {video}: {e}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    if sheet is not None:
        from tasks.videos.sheet import shot_sheet

        shot_sheet(frames, shots, sheet)
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"{video}: {meta.frames} frames at {meta.fps:.3f} fps, {len(shots)} shot(s)")
    for s in shots:
        b = s.borders
        bars = f" bars t{b.top} b{b.bottom} l{b.left} r{b.right}" if any(vars(b).values()) else ""
        dup = f" duplicate of {s.duplicate_of}" if s.duplicate_of else ""
        out.print(
            f"  [{s.start}, {s.end}) {s.mode:<11} {s.mode_rule}; motion {s.motion:.2f} "
            f"camera {s.camera_motion:.2f} blank {s.blank_fraction:.2f}{bars}{dup}"
        )
    if as_json:
        print(json.dumps({"shots": [_shot_json(s) for s in shots], "fps": meta.fps}))


def _shot_json(s) -> dict:
    return {
        "start": s.start,
        "end": s.end,
        "mode": s.mode,
        "motion": s.motion,
        "camera_motion": s.camera_motion,
        "scene_motion": s.scene_motion,
        "explained": s.explained,
        "mode_score": s.mode_score,
        "mode_rule": s.mode_rule,
        "blank_fraction": s.blank_fraction,
        "borders": vars(s.borders),
        "phash": s.phash,
        "duplicate_of": s.duplicate_of,
        "shot_id": s.shot_id,
    }


def register(app: typer.Typer) -> None:
    app.command("curate")(curate)
