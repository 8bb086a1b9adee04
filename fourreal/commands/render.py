"""``fourreal render-object``: one glTF/GLB file -> one grid .npz (the export contract)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def render_object_cmd(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .glb or .gltf file"),
    views: int = typer.Option(8, "--views", min=1, max=64, help="V: viewpoints"),
    times: int = typer.Option(8, "--times", min=1, max=256, help="T: animation times"),
    height: int = typer.Option(72, "--height", min=1, max=4096, help="H in pixels"),
    width: int = typer.Option(128, "--width", min=1, max=4096, help="W in pixels"),
    out: Path = typer.Option(Path("grid.npz"), "--out", help="Output .npz"),
    animation: str | None = typer.Option(None, help="Animation index or name (default longest)"),
    azimuth: float = typer.Option(0.0, help="Middle of the camera arc, degrees"),
    azimuth_span: float = typer.Option(90.0, help="First to last view, degrees (360 = circle)"),
    elevation: float = typer.Option(15.0, help="Camera elevation, degrees"),
    yfov: float = typer.Option(40.0, help="Vertical field of view, degrees"),
    background: float = typer.Option(1.0, min=0.0, max=1.0, help="Background grey level"),
    max_triangles: int | None = typer.Option(None, help="Refuse objects with more triangles"),
) -> None:
    """Render PATH's animation to rgb/alpha/depth [V,T,...] with K, w2c and times."""
    from renderers.camera import CameraArc
    from renderers.job import RenderSpec, render_job
    from renderers.render import GridRenderer

    try:
        arc = CameraArc(
            azimuth_deg=azimuth,
            azimuth_span_deg=azimuth_span,
            elevation_deg=elevation,
            yfov_deg=yfov,
        )
        spec = RenderSpec(
            views=views,
            times=times,
            height=height,
            width=width,
            arc=arc,
            animation=int(animation)
            if animation is not None and animation.isdigit()
            else animation,
            max_triangles=max_triangles,
            background=background,
        )
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    renderer = GridRenderer()
    try:
        res = render_job({"path": str(path), "out": str(out), "spec": spec.params()}, renderer)
    finally:
        renderer.close()
    if res["status"] != "ok":
        console.print(f"[red]failed:[/red] {res['error']}")
        raise typer.Exit(1)
    meta = res["meta"]
    console.print(
        f"wrote {out} (V={views} T={times} {height}x{width}; animation {meta['animation']!r}, "
        f"{meta['triangles']} triangles, {res['seconds']:.2f} s)"
    )


def register(app: typer.Typer) -> None:
    app.command("render-object")(render_object_cmd)
