"""Typed flow parameters: one pydantic model per flow, shared field types here.

Bad values fail at construction, before any work, with pydantic's message
naming the field (``views: Input should be greater than or equal to 2``).
The Prefect UI renders these models as forms (descriptions, bounds, Literals).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fourreal.paths import within_root

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


def patch_size(preset: str) -> int:
    """Patch size of a model preset (read from model.config, the one source)."""
    from model.config import base_preset

    return base_preset(preset).patch_size


class FlowParams(BaseModel):
    """Base of every flow's parameter model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GridSizeMixin(BaseModel):
    """V, T, H, W checked against the patch size of ``preset``."""

    preset: Preset = Field("tiny", description="Model size preset: tiny | small | paper")
    views: Views = 8
    times: Times = 8
    height: Height = 72
    width: Width = 128

    @model_validator(mode="after")
    def _divisible_by_patch(self):
        p = patch_size(self.preset)
        for name in ("height", "width"):
            value = getattr(self, name)
            if value % p:
                raise ValueError(
                    f"{name}: {value} is not divisible by the patch size {p} "
                    f"of preset {self.preset!r}"
                )
        return self


def output_path(value: str | Path, field: str) -> Path:
    """Resolve an output path and refuse one outside the data root."""
    try:
        return within_root(value)
    except ValueError as e:
        raise ValueError(f"{field}: {e}") from None
