"""``fourreal render-object``: one glTF/GLB file -> one grid .npz (the export contract).

The render options map to a ``RenderSpec`` through ``renderers.spec.render_spec``, the
mapping the ``build_objaverse_grids`` flow uses, and their defaults are that spec's
(``--max-triangles`` included: 500,000, as in the flow). The command is made on first
use: importing the renderer is slow.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from fourreal.commands.options import fail, lazy_command

console = Console()
DOC = "Render PATH's animation to rgb/alpha/depth [V,T,...] with K, w2c and times."


def render_object_command():
    from renderers.spec import DEFAULTS as D
    from renderers.spec import render_spec

    def render_object_cmd(
        path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .glb or .gltf file"),
        views: int = typer.Option(D["views"], "--views", min=1, max=64, help="V: viewpoints"),
        times: int = typer.Option(D["times"], "--times", min=1, max=256, help="T: animation times"),
        height: int = typer.Option(D["height"], "--height", min=1, max=4096, help="H in pixels"),
        width: int = typer.Option(D["width"], "--width", min=1, max=4096, help="W in pixels"),
        out: Path = typer.Option(Path("grid.npz"), "--out", help="Output .npz"),
        animation: str | None = typer.Option(
            D["animation"], help="Animation index or name (default longest)"
        ),
        azimuth: float = typer.Option(D["azimuth_deg"], help="Middle of the camera arc, degrees"),
        azimuth_span: float = typer.Option(
            D["azimuth_span_deg"], help="First to last view, degrees (360 = circle)"
        ),
        elevation: float = typer.Option(D["elevation_deg"], help="Camera elevation, degrees"),
        yfov: float = typer.Option(D["yfov_deg"], help="Vertical field of view, degrees"),
        background: float = typer.Option(
            D["background"], min=0.0, max=1.0, help="Background grey level"
        ),
        max_triangles: int | None = typer.Option(
            D["max_triangles"], help="Refuse objects with more triangles"
        ),
    ) -> None:
        from renderers.job import render_job
        from renderers.render import GridRenderer

        try:
            spec = render_spec(
                views=views,
                times=times,
                height=height,
                width=width,
                animation=animation,
                azimuth_deg=azimuth,
                azimuth_span_deg=azimuth_span,
                elevation_deg=elevation,
                yfov_deg=yfov,
                max_triangles=max_triangles,
                background=background,
            )
        except ValueError as e:
            raise fail(str(e)) from None
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
            f"wrote {out} (V={views} T={times} {height}x{width}; animation "
            f"{meta['animation']!r}, {meta['triangles']} triangles, {res['seconds']:.2f} s)"
        )

    render_object_cmd.__doc__ = DOC
    return render_object_cmd


def register(app: typer.Typer) -> None:
    app.command("render-object", cls=lazy_command(render_object_command), help=DOC)(_listed)


def _listed() -> None:
    """Stands in for the lazy command in the app's listing; never runs."""
