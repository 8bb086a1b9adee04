"""Flow parameter pieces that depend on the model: grid sizes checked against a preset.

Kept out of ``core.flow_params`` so the base layer imports nothing of the project.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from core.flow_params import Height, Preset, Times, Views, Width


def patch_size(preset: str) -> int:
    """Patch size of a model preset (read from model.config, the one source)."""
    from model.config import base_preset

    return base_preset(preset).patch_size


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


class StoreQualityMixin(BaseModel):
    """How a build stores rgb (core.sample_store.Quality); empty = the builder's default."""

    video_codec: Literal["h264", "h264rgb"] | None = Field(
        None,
        description="rgb codec: h264 (yuv444p, ~65 dB at crf 0) | h264rgb (exactly lossless "
        "at crf 0, ~1.5x the bytes); empty = h264 for renders, h264rgb for videos",
    )
    video_crf: int | None = Field(
        None, ge=0, le=51, description="x264 CRF of the stored rgb (0 = lossless); empty = 0"
    )

    def store_quality(self) -> dict | None:
        """The ``Quality`` fields given, or ``None`` (a new value makes new sample ids)."""
        given = {"codec": self.video_codec, "crf": self.video_crf}
        return {k: v for k, v in given.items() if v is not None} or None
