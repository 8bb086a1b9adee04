"""Flat render options -> ``RenderSpec``: the one mapping of ``fourreal render-object`` and
the ``build_objaverse_grids`` flow, and the one place their defaults come from.

Options are named as the fields of ``CameraArc`` (``azimuth_deg``, ``azimuth_span_deg``,
``elevation_deg``, ``yfov_deg``, ``margin``) and of ``RenderSpec`` (``views``, ``times``,
``animation``, ``max_triangles``, ...); an option left out takes the dataclass's default.
"""

from __future__ import annotations

import dataclasses

from renderers.camera import CameraArc
from renderers.job import RenderSpec

ARC_FIELDS = tuple(f.name for f in dataclasses.fields(CameraArc))
DEFAULTS = {
    **{f.name: f.default for f in dataclasses.fields(RenderSpec) if f.name != "arc"},
    **{f.name: f.default for f in dataclasses.fields(CameraArc)},
}


def animation_ref(value: int | str | None) -> int | str | None:
    """An animation given as text: digits are its index, anything else its name."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def render_spec(**options) -> RenderSpec:
    """A ``RenderSpec`` from flat options (camera-arc fields make its ``arc``);
    ``ValueError`` naming the field for a bad value or an unknown option."""
    arc = CameraArc(**{k: options.pop(k) for k in ARC_FIELDS if k in options})
    if unknown := set(options) - set(DEFAULTS):
        raise ValueError(f"{sorted(unknown)[0]}: not a render option")
    if "animation" in options:
        options["animation"] = animation_ref(options["animation"])
    return RenderSpec(arc=arc, **options)
