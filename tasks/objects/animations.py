"""``--animation all``: one sample per animation of an object (MV-Video style).

Planning needs each object's animations before anything is rendered: their
names are read from the glTF JSON alone (the GLB's JSON chunk; no buffers,
no mesh), in the driver, where the files were just hashed anyway. An object
whose JSON cannot be read plans one job with the default animation, whose
render then fails with the real reason.
"""

from __future__ import annotations

from pathlib import Path

from renderers.errors import GltfError
from renderers.gltf_io import parse_container, parse_document

ALL = "all"
DEFAULT_MAX_ANIMATIONS = 6  # MV-Video renders up to 6 animations per object


def animation_names(path: str | Path) -> list[str | None]:
    """The name (or None) of every animation of a glTF/GLB file, in file order."""
    text, _ = parse_container(Path(path).read_bytes())
    _, raw = parse_document(text)
    animations = raw.get("animations") or []
    if not isinstance(animations, list):
        raise GltfError("invalid glTF JSON: 'animations' is not a list")
    return [a.get("name") if isinstance(a, dict) else None for a in animations]


def animations_to_render(path: str | Path, cap: int) -> list[tuple[int, str | None]] | None:
    """``(index, name)`` of the first ``cap`` animations; None when the file cannot say."""
    try:
        names = animation_names(path)
    except (OSError, GltfError):
        return None
    return list(enumerate(names))[:cap]
