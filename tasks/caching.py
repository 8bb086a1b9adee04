"""Prefect task caching for dataset builds: rebuilding an unchanged corpus is free.

Prefect's default cache policy includes the flow-run id, so nothing carries
over from one (scheduled) run to the next. Dataset tasks use instead::

    @task(**cached_task_options("pseudo4d", "3", content=("video_path",)))
    def make_grids(video_path: str, views: int, times: int, ...) -> list[dict]: ...

whose key is the hash of

* the task's inputs (``INPUTS``), except the ``content`` parameters, which
  are replaced by the **sha256 of the bytes** of the files (or directory
  trees) they name: renaming or touching a file does not invalidate, editing
  it does;
* the task's source (``TASK_SOURCE``);
* a recipe name and version: bump the version when library code the task
  calls (renderers/, tasks/) changes what it produces.

Never the run id. A second layer sits below this one: the builders skip
sample ids that the catalog already has as ``ok`` with their files present,
so a cache miss (say, after the results folder was deleted) still renders
nothing that exists.

Where results live
------------------
Cached results are written to ``<data root>/prefect/results`` (a local
path, which Prefect wraps in a ``LocalFileSystem``; nothing to register), as JSON:
tasks return rows and paths, never arrays. Every process that can read the
data root can read the cache: the flow-run process, local Ray workers (the
``RayTaskRunner`` runs Prefect's task engine inside the Ray worker, which
looks the key up itself) and process workers of ``fourreal up``.

On a remote Ray cluster the workers are other machines, so the cache must be
storage they all reach. Either mount one shared filesystem at the same path
on every node and point ``FOURREAL_RESULTS`` at it, or save a remote storage
block once (e.g. ``prefect-aws``'s ``S3Bucket`` named ``fourreal-results``)
and set ``FOURREAL_RESULTS=s3-bucket/fourreal-results`` (a block slug).
Ship that variable to the workers in the Ray ``runtime_env`` (see
``fourreal/raycluster.py``) and on the work pool's job variables.

Reading a cache entry costs a task run (~tens of ms): cache one task per
*batch* of items (a shard, an object list), not per frame.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect.cache_policies import TASK_SOURCE, CachePolicy
from prefect.utilities.hashing import hash_objects

from core.io import sha256_file
from core.paths import data_root

RESULTS_ENV = "FOURREAL_RESULTS"

# Memo of file hashes within one process: (path, size, mtime_ns, inode) -> sha256.
# A changed file changes size or mtime, so the memo never serves stale bytes.
_FILE_HASHES: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime, inode)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _FILE_HASHES.get(key)
    if digest is None:
        digest = _FILE_HASHES[key] = sha256_file(p)
    return digest


def content_hash(value: Any) -> str:
    """Hash of what a path-like value *contains*.

    A file: its bytes. A directory: every file under it (relative names and
    bytes; hidden ``.tmp-*`` files ignored). A list/tuple: each element in
    order. A missing path hashes as missing, so creating it later is a miss.
    ``None`` and non-path values hash by their repr.
    """
    h = hashlib.sha256()
    if isinstance(value, list | tuple):
        for item in value:
            h.update(content_hash(item).encode())
        return h.hexdigest()
    if not isinstance(value, str | os.PathLike):
        inner = getattr(value, "path", None)
        if isinstance(inner, str | os.PathLike):  # e.g. a SourceSpec: its file's bytes + the rest
            h.update(content_hash(inner).encode())
            rest = _as_dict(value)
            rest.pop("path", None)
            h.update(repr(sorted(rest.items())).encode())
        else:
            h.update(repr(value).encode())
        return h.hexdigest()
    p = Path(value)
    if p.is_file():
        return file_sha256(p)
    if p.is_dir():
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            if f.name.startswith(".tmp-"):
                continue
            h.update(str(f.relative_to(p)).encode() + b"\0" + file_sha256(f).encode())
        return h.hexdigest()
    h.update(b"missing:" + str(p).encode())
    return h.hexdigest()


def _as_dict(value: Any) -> dict:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, Mapping):
        return dict(value)
    return {"value": value}


@dataclass
class InputsExcept(CachePolicy):
    """Like Prefect's ``INPUTS``, minus parameters (``"done"``) or fields (``"job.run_id"``)."""

    exclude: tuple[str, ...] = ()

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        data = {}
        for name, value in sorted(inputs.items()):
            if name in self.exclude:
                continue
            fields = [e.split(".", 1)[1] for e in self.exclude if e.startswith(f"{name}.")]
            if fields:
                value = {k: v for k, v in _as_dict(value).items() if k not in fields}
            data[name] = value
        return hash_objects(data, raise_on_failure=True)


@dataclass
class ContentHashes(CachePolicy):
    """Key on the bytes of the files named by the ``params`` inputs."""

    params: tuple[str, ...] = ()

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        h = hashlib.sha256()
        for name in self.params:
            if name not in inputs:
                raise ValueError(f"cache policy: task has no parameter {name!r} to hash")
            h.update(name.encode() + b"=" + content_hash(inputs[name]).encode() + b";")
        return h.hexdigest()


@dataclass
class Recipe(CachePolicy):
    """Key on a recipe name and version (bump it when the producing code changes)."""

    name: str = ""
    version: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        text = f"{self.name}@{self.version};" + ";".join(
            f"{k}={v}" for k, v in sorted(self.extra.items())
        )
        return hashlib.sha256(text.encode()).hexdigest()


def dataset_cache_policy(
    recipe: str, version: str | int, content: Iterable[str] = (), exclude: Iterable[str] = ()
) -> CachePolicy:
    """Inputs (minus ``content`` and ``exclude``) + bytes of ``content`` + source + recipe.

    ``exclude`` names inputs that do not change the result: where it runs
    (``ray_address``, ``num_cpus``) or run bookkeeping (``job.run_id``).
    """
    if not recipe:
        raise ValueError("recipe: a cache policy needs the recipe name")
    content, exclude = tuple(content), tuple(exclude)
    return (
        InputsExcept(exclude=content + exclude)
        + ContentHashes(params=content)
        + TASK_SOURCE
        + Recipe(name=recipe, version=str(version))
    )


def results_dir(root: Path | None = None) -> Path:
    return (root or data_root()) / "prefect" / "results"


def result_storage() -> Path | str:
    """Where cached results go: ``$FOURREAL_RESULTS`` (a path or a block slug) or the data root.

    A ``Path`` becomes a ``LocalFileSystem`` inside Prefect (an unsaved block
    object is refused by ``@task``; a path is not).
    """
    configured = os.environ.get(RESULTS_ENV, "").strip()
    if configured and "/" in configured and not configured.startswith(("/", ".", "~")):
        return configured  # a saved block's slug, e.g. "s3-bucket/fourreal-results"
    path = Path(configured).expanduser() if configured else results_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def cached_task_options(
    recipe: str,
    version: str | int,
    content: Iterable[str] = (),
    exclude: Iterable[str] = (),
    serializer: str = "json",
) -> dict:
    """Keyword arguments for ``@task(...)`` that make a task cached across runs.

    ``serializer``: ``"json"`` for rows and paths; ``"pickle"`` when the task
    returns dataclasses (results stay under the data root, written by us).
    """
    return {
        "cache_policy": dataset_cache_policy(recipe, version, content, exclude),
        "result_storage": result_storage(),
        "result_serializer": serializer,
        "persist_result": True,
    }
