"""``fourreal pseudo4d VIDEO ...``: one pseudo-4D grid from one video, as an npz.

The npz is a stable contract (users reproduce or reuse the warps):

* ``grid [V,T,H,W,3] uint8``: ``grid[v, t]`` = view ``v`` at time ``t``;
* ``frames [T,H,W,3] uint8``: the clip after centre-crop and resize, unwarped;
* ``affine [V,2,3] float64``: ``grid[v,t](x, y) = frames[t](affine[v] @ [x, y, 1])``
  in pixel coordinates (pixel centres at integers, bilinear);
* ``frame_indices [T] int64``: indices of the clip's frames in the decoded video.
"""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import Field, model_validator
from rich.console import Console

from core.flow_params import FlowParams, Height, Seed, Times, Views, Width
from fourreal.commands.options import lazy_command, model_command, parse

console = Console()


class ExportParams(FlowParams):
    """What ``fourreal pseudo4d`` makes: one grid from one video (its options)."""

    video: Path = Field(..., description="Input video (any container/codec FFmpeg reads)")
    views: Views = 8
    times: Times = 8
    height: Height = 72
    width: Width = 128
    seed: Seed = 0
    fps: float | None = Field(None, gt=0, le=240, description="Target clip frame rate")
    stride: int | None = Field(None, ge=1, le=1000, description="Source frames between clip frames")
    start: int = Field(0, ge=0, description="First source frame of the clip")
    out: Path = Field(Path("grid.npz"), description="Output npz")

    @model_validator(mode="after")
    def _fps_or_stride(self):
        if self.fps is not None and self.stride is not None:
            raise ValueError("fps: give --fps or --stride, not both")
        return self


DOC = "Write a pseudo-4D grid npz (grid, frames, affine, frame_indices) from VIDEO."
FLAGS = {"views": ("--views", "-V"), "times": ("--times", "-T"), "out": ("--out", "-o")}


def pseudo4d_command():
    """The options are ExportParams' fields (fourreal/commands/options.py)."""
    return model_command(
        ExportParams,
        lambda values: export(parse(ExportParams, values)),
        name="pseudo4d",
        doc=DOC,
        positional=("video",),
        flags=FLAGS,
    )


def export(p: ExportParams) -> None:
    """Build the grid of ``p.video`` and write the npz contract to ``p.out``."""
    from core.io import save_npz_atomic
    from core.video import VideoError
    from tasks.videos.build import grid_from_video
    from tasks.videos.clips import ClipError

    try:
        arrays = grid_from_video(
            p.video,
            p.views,
            p.times,
            p.height,
            p.width,
            seed=p.seed,
            fps=p.fps,
            stride=p.stride,
            start=p.start,
        )
    except (VideoError, ClipError) as e:
        typer.echo(f"error: {p.video}: {' '.join(str(e).split())}", err=True)
        raise typer.Exit(1) from None
    save_npz_atomic(p.out, **arrays)
    console.print(
        f"wrote {p.out}: grid {tuple(arrays['grid'].shape)}, "
        f"frames {arrays['frame_indices'].tolist()}"
    )


def register(app: typer.Typer) -> None:
    app.command("pseudo4d", cls=lazy_command(pseudo4d_command), help=DOC)(_listed)


def _listed() -> None:
    """Stands in for the lazy command in the app's listing; never runs."""
