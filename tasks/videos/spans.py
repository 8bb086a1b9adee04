"""Clip spans of a manifest row: the parts of a video clips may come from.

Video corpora list, per video, the seconds worth keeping (Panda-70M's
``timestamp``: ``[[start, end], ...]``). A manifest's ``spans`` column holds
that list (in CSV a JSON string such as ``"[[0.5, 3.5]]"``). A build cuts
clips only inside them: the spans become frame ranges ``[a, b)`` of the decoded
video (``a = ceil(start * fps)``, ``b = floor(end * fps)``, clamped to the
video), and the shots (or the whole video, without curation) are intersected
with those ranges before clips are planned.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

Span = tuple[float, float]


class SpanError(ValueError):
    """A ``spans`` value that cannot be used; the message is the catalog reason."""


@dataclass(frozen=True)
class Segment:
    """A frame range ``[start, end)``; what clip planning needs of a shot."""

    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


def parse_spans(value) -> tuple[Span, ...] | None:
    """``[[start, end], ...]`` in seconds (a list or its JSON text) -> sorted tuples; None if empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise SpanError(f"spans {value!r} is not JSON: {e.msg}") from None
    if not isinstance(value, list | tuple) or not value:
        raise SpanError(f"spans must be a non-empty list of [start, end] seconds, got {value!r}")
    spans = []
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise SpanError(f"span {item!r} is not [start, end]")
        try:
            start, end = float(item[0]), float(item[1])
        except (TypeError, ValueError):
            raise SpanError(f"span {item!r} is not two numbers") from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise SpanError(f"span {item!r} needs 0 <= start < end")
        spans.append((start, end))
    spans.sort()
    for (_, end0), (start1, _) in zip(spans, spans[1:], strict=False):
        if start1 < end0:
            raise SpanError(f"spans overlap: {spans}")
    return tuple(spans)


def span_segments(spans: tuple[Span, ...], fps: float, frames: int) -> list[Segment]:
    """The frame ranges of ``spans`` in a video of ``frames`` frames at ``fps`` (empty ones dropped)."""
    out = []
    for start, end in spans:
        a = max(0, math.ceil(start * fps - 1e-6))
        b = min(frames, math.floor(end * fps + 1e-6))
        if b > a:
            out.append(Segment(a, b))
    return out


def inside(pieces: list, segments: list[Segment]) -> list[tuple[object, object]]:
    """``(piece, part)`` for each nonempty intersection of a piece (a shot) and a segment.

    ``part`` is ``piece`` with ``start``/``end`` narrowed (``dataclasses.replace``),
    so clip planning places clips only where both allow.
    """
    out = []
    for piece in pieces:
        for seg in segments:
            a, b = max(piece.start, seg.start), min(piece.end, seg.end)
            if b > a:
                out.append((piece, dataclasses.replace(piece, start=a, end=b)))
    return out
