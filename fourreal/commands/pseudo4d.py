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
from pydantic import Field, ValidationError
from rich.console import Console

from fourreal.core.params import FlowParams, Height, Seed, Times, Views, Width

console = Console()


class ExportParams(FlowParams):
    video: Path
    views: Views = 8
    times: Times = 8
    height: Height = 72
    width: Width = 128
    seed: Seed = 0
    fps: float | None = Field(None, gt=0, le=240)
    stride: int | None = Field(None, ge=1, le=1000)
    start: int = Field(0, ge=0)
    out: Path = Path("grid.npz")


def pseudo4d(
    video: Path = typer.Argument(..., help="Input video (any container/codec FFmpeg reads)"),
    views: int = typer.Option(8, "--views", "-V", help="V: number of pseudo-camera views"),
    times: int = typer.Option(8, "--times", "-T", help="T: number of frames"),
    height: int = typer.Option(72, "--height", help="Output height H"),
    width: int = typer.Option(128, "--width", help="Output width W"),
    seed: int = typer.Option(0, "--seed", help="Seed of the camera path"),
    out: Path = typer.Option(Path("grid.npz"), "--out", "-o", help="Output npz"),
    fps: float | None = typer.Option(None, "--fps", help="Target clip frame rate"),
    stride: int | None = typer.Option(None, "--stride", help="Source frames between clip frames"),
    start: int = typer.Option(0, "--start", help="First source frame of the clip"),
) -> None:
    """Write a pseudo-4D grid npz (grid, frames, affine, frame_indices) from VIDEO."""
    from fourreal.core.io import save_npz_atomic
    from tasks.videos.build import grid_from_video
    from tasks.videos.clips import ClipError
    from tasks.videos.decode import VideoError

    try:
        p = ExportParams(
            video=video,
            views=views,
            times=times,
            height=height,
            width=width,
            seed=seed,
            fps=fps,
            stride=stride,
            start=start,
            out=out,
        )
        if p.fps is not None and p.stride is not None:
            raise ValueError("fps: give --fps or --stride, not both")
    except (ValidationError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
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
        console.print(f"[red]error:[/red] {p.video}: {e}")
        raise typer.Exit(1) from None
    save_npz_atomic(p.out, **arrays)
    console.print(
        f"wrote {p.out}: grid {tuple(arrays['grid'].shape)}, "
        f"frames {arrays['frame_indices'].tolist()}"
    )


def register(app: typer.Typer) -> None:
    app.command("pseudo4d")(pseudo4d)
