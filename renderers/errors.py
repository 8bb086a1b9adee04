"""Exceptions of the renderers: each carries a reason a catalog row can store."""

from __future__ import annotations


class GltfError(ValueError):
    """The file is not a glTF 2.0 asset we can play (the message says why)."""


class RejectedObject(ValueError):
    """The object rendered, but a dataset filter (motion, early stop) dropped it."""
