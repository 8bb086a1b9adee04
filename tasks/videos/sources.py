"""Input videos: what a folder, a glob or a manifest names, and their ``sources`` rows.

``SourceSpec`` is one input as listed (a local path, or a URL a worker
fetches); ``discover_sources`` lists them; ``source_row`` is a video's
``sources`` catalog row, ok or failed with its reason.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from catalog.ids import canonical_json
from core.fetch import is_url
from core.grid import MODES
from core.io import sha256_bytes
from core.paths import relative_to_root
from tasks.videos.spans import SpanError, parse_spans

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".y4m", ".mpg", ".mpeg", ".ts", ".flv"}
)
MANIFEST_SUFFIXES = frozenset({".csv", ".parquet", ".jsonl"})


@dataclass(frozen=True)
class SourceSpec:
    """One input video as listed by a folder, a glob or a manifest row."""

    path: str  # absolute (for a remote video: its URL until a worker fetches it)
    mode: str | None = None  # dynamic | freeze_time (manifest), None: the build's default
    caption: str | None = None
    license: str | None = None
    error: str | None = None  # a manifest row that is unusable before probing
    url: str | None = None  # http(s):// or s3://: fetched by the worker that processes it
    spans: tuple[tuple[float, float], ...] | None = None  # seconds clips may come from

    @property
    def uri(self) -> str:
        return self.url or relative_to_root(self.path)

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a remote input without fetching it: its URL and spans."""
        return (self.uri, spans_json(self.spans))

    def source_id(self, sha: str | None) -> str:
        """The ``sources`` key: the bytes' hash, with the spans when a row names some."""
        base = sha or sha256_bytes(self.uri.encode())
        return (
            base
            if self.spans is None
            else sha256_bytes(f"{base}|{spans_json(self.spans)}".encode())
        )


def spans_json(spans) -> str:
    return "" if spans is None else canonical_json([list(s) for s in spans])


def discover_sources(source: str) -> list[SourceSpec]:
    """Videos named by ``source``: a folder, a glob, or a CSV/Parquet/JSONL manifest.

    A folder lists its files with a video suffix (recursively). A manifest row
    names its video by ``path`` (relative paths are relative to the manifest)
    or by ``url`` (``http(s)://`` or ``s3://``, fetched by the worker that
    processes it); optional columns: ``spans`` (``[[start, end], ...]`` seconds,
    in CSV as JSON text; clips come only from inside them), ``mode``,
    ``caption`` and ``license`` (or ``licence``).
    """
    p = Path(source).expanduser()
    if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
        return _read_manifest(p)
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*")
            if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith(".")
        )
        return [SourceSpec(str(f.resolve())) for f in files]
    if p.is_file():
        return [SourceSpec(str(p.resolve()))]
    matches = sorted(glob.glob(str(p), recursive=True))
    if not matches and not glob.has_magic(str(p)):
        raise ValueError(f"source: {source!r} is not a file, folder, glob or manifest")
    return [SourceSpec(str(Path(m).resolve())) for m in matches if Path(m).is_file()]


def _manifest_table(path: Path):
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            opts = pcsv.ConvertOptions(strings_can_be_null=True)
            return pcsv.read_csv(path, convert_options=opts)
        if suffix == ".jsonl":
            return pjson.read_json(path)
        return pq.read_table(path)
    except Exception as e:  # pyarrow's parse errors name no common base class
        raise ValueError(f"source: manifest {path} cannot be read: {str(e)[:300]}") from None


def _read_manifest(path: Path) -> list[SourceSpec]:
    table = _manifest_table(path)
    if "path" not in table.column_names and "url" not in table.column_names:
        raise ValueError(
            f"source: manifest {path} has no 'path' or 'url' column (columns: {table.column_names})"
        )
    return [_manifest_row(path, row) for row in table.to_pylist()]


def _manifest_row(manifest: Path, row: dict) -> SourceSpec:
    """One row as a ``SourceSpec``; an unusable row carries its reason in ``error``."""
    lic = row.get("license", row.get("licence"))
    common = {
        "mode": row.get("mode") or None,
        "caption": None if row.get("caption") is None else str(row["caption"]),
        "license": None if lic is None else str(lic),
    }
    raw, url = row.get("path"), row.get("url")
    errors = []
    if url:
        url = str(url).strip()
        if not is_url(url):
            errors.append(f"manifest url {url!r} is not http(s):// or s3://")
        where = {"path": url, "url": url}
    elif raw:
        f = Path(str(raw)).expanduser()
        where = {"path": str((f if f.is_absolute() else manifest.parent / f).resolve())}
    else:
        return SourceSpec(str(manifest), error="manifest row without a path or url", **common)
    if common["mode"] is not None and common["mode"] not in MODES:
        errors.append(f"manifest mode {common['mode']!r} is not one of {MODES}")
    try:
        spans = parse_spans(row.get("spans"))
    except SpanError as e:
        spans, errors = None, [*errors, f"manifest {e}"]
    return SourceSpec(**where, **common, spans=spans, error="; ".join(errors) or None)


def source_row(
    spec: SourceSpec,
    sha: str | None,
    size: int | None,
    meta: dict | None,
    error: str | None,
    run_id: str | None,
    fetch: dict | None = None,
) -> dict:
    info = dict(meta or {})
    if spec.caption is not None:
        info["caption"] = spec.caption
    if spec.mode is not None:
        info["mode"] = spec.mode
    if spec.spans is not None:
        info["spans"] = [list(s) for s in spec.spans]
    if fetch is not None:  # URL, HTTP status, ETag, bytes (or why it failed)
        info["fetch"] = fetch
    return {
        "source_id": spec.source_id(sha),
        "kind": "video",
        "uri": spec.uri,
        "sha256": sha,
        "bytes": size,
        "license": spec.license,
        "meta_json": canonical_json(info) if info else None,
        "status": "failed" if error else "ok",
        "error": error,
        "run_id": run_id,
    }
