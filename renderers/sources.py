"""Where objects come from: a local folder/glob of glTF files, or Objaverse.

The Objaverse selection is a pure function over the annotations table
(``{uid: metadata}`` as the dataset's ``metadata/*.json.gz`` shards hold it,
or a list of records with a ``uid``), so it is testable without a network.
Downloads go through the Hugging Face hub client (``tasks.objects.objaverse``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

GLTF_SUFFIXES = (".glb", ".gltf")


def local_sources(pattern: str | os.PathLike) -> list[Path]:
    """``.glb``/``.gltf`` files of a folder (recursively) or a glob pattern, resolved, sorted."""
    p = Path(pattern).expanduser()
    if p.is_dir():  # sorted as text: comparing 10,000 Paths part by part costs more
        return [Path(f) for f in sorted(set(_folder_sources(str(p.resolve()))))]
    files = [p] if p.is_file() else [Path(f) for f in glob.glob(str(p), recursive=True)]
    files = [f.resolve() for f in files if f.is_file() and f.suffix.lower() in GLTF_SUFFIXES]
    return sorted(set(files))


def _folder_sources(folder: str) -> Iterator[str]:
    """The glTF files under a resolved folder, like ``rglob`` (symlinked folders are not
    entered), resolving only symlinked files: a corpus of 10,000 objects is listed without
    the per-component ``lstat`` of resolving every path (a no-op rebuild lists it each time)."""
    with os.scandir(folder) as entries:
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                yield from _folder_sources(e.path)
            elif os.path.splitext(e.name)[1].lower() in GLTF_SUFFIXES and e.is_file():
                yield os.path.realpath(e.path) if e.is_symlink() else e.path


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which annotated Objaverse objects to take."""

    min_animations: int = 1
    """Keep objects with at least this many animations (animationCount)."""
    max_faces: int | None = 200_000
    """Drop objects with more faces than this (faceCount); None = no cap."""
    licenses: tuple[str, ...] | None = None
    """Licence identifiers to keep (e.g. 'by', 'by-sa', 'cc0'); None = any."""
    uids: tuple[str, ...] | None = None
    """Only these uids (a curated subset); None = all."""
    limit: int | None = None
    """At most this many, after sorting by uid."""

    def __post_init__(self):
        if self.min_animations < 0:
            raise ValueError(f"min_animations: {self.min_animations} must be >= 0")
        if self.max_faces is not None and self.max_faces < 1:
            raise ValueError(f"max_faces: {self.max_faces} must be >= 1")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit: {self.limit} must be >= 0")


def _records(annotations) -> Iterator[tuple[str, Mapping]]:
    if isinstance(annotations, Mapping):
        yield from annotations.items()
        return
    if hasattr(annotations, "to_pylist"):  # pyarrow table
        annotations = annotations.to_pylist()
    for row in annotations:
        yield row["uid"], row


def _licence(row: Mapping) -> str | None:
    lic = row.get("license")
    if isinstance(lic, Mapping):  # some dumps nest {"label": ...}
        lic = lic.get("label") or lic.get("slug")
    return None if lic is None else str(lic).lower()


def select_objaverse(annotations, selection: Selection) -> list[str]:
    """uids of the annotated objects ``selection`` keeps, sorted."""
    wanted = None if selection.uids is None else set(selection.uids)
    licences = None if selection.licenses is None else {x.lower() for x in selection.licenses}
    out = []
    for uid, row in _records(annotations):
        if wanted is not None and uid not in wanted:
            continue
        if int(row.get("animationCount") or 0) < selection.min_animations:
            continue
        faces = row.get("faceCount")
        if selection.max_faces is not None and (faces is None or int(faces) > selection.max_faces):
            continue
        if licences is not None and _licence(row) not in licences:
            continue
        out.append(uid)
    out.sort()
    return out if selection.limit is None else out[: selection.limit]
