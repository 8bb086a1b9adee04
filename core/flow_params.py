"""Typed flow parameters: one pydantic model per flow, shared field types here.

Bad values fail at construction, before any work, with pydantic's message
naming the field (``views: Input should be greater than or equal to 2``).
The Prefect UI renders these models as forms (descriptions, bounds, Literals).
Model-dependent checks (patch size of a preset) live in ``flows/grid_params.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.paths import within_root

Preset = Literal["tiny", "small", "paper"]

Views = Annotated[int, Field(ge=2, le=64, description="V: number of viewpoints per grid")]
Times = Annotated[int, Field(ge=2, le=256, description="T: number of times per grid")]
Height = Annotated[int, Field(gt=0, le=4096, description="Frame height in pixels")]
Width = Annotated[int, Field(gt=0, le=4096, description="Frame width in pixels")]
Seed = Annotated[int, Field(ge=0, description="Random seed (results are reproducible)")]
RayAddress = Annotated[
    str | None,
    Field(
        default=None,
        description="Ray cluster: None starts a local Ray, 'auto' joins the running one, "
        "'ray://host:10001' connects a client",
    ),
]


class FlowParams(BaseModel):
    """Base of every flow's parameter model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def output_path(value: str | Path, field: str) -> Path:
    """Resolve an output path and refuse one outside the data root."""
    try:
        return within_root(value)
    except ValueError as e:
        raise ValueError(f"{field}: {e}") from None
