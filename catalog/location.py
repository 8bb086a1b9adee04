"""Where the lake lives: its metadata database and its data files.

Settings (environment, or arguments to ``Catalog``):

* ``FOURREAL_CATALOG``: the metadata database. Unset: an embedded SQLite file
  ``<catalog dir>/metadata.sqlite`` (several local processes may write).
  ``postgresql://user@host:port/db``: PostgreSQL, for writers on many nodes.
  A path (or ``sqlite:<path>``): that SQLite file.
* ``FOURREAL_CATALOG_DATA``: where the Parquet data files go (a folder or
  ``s3://bucket/prefix/``). Unset: ``<catalog dir>/data/`` for a new lake,
  and whatever the lake recorded at creation for an existing one.
* Object storage uses the standard ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION`` and ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CATALOG_ENV = "FOURREAL_CATALOG"
DATA_ENV = "FOURREAL_CATALOG_DATA"
SQLITE_FILE = "metadata.sqlite"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class LakeLocation:
    kind: str  # sqlite | postgres
    metadata: str  # SQLite file path or PostgreSQL URL
    data_path: str | None  # the setting when given; None: the lake's own (or the default)
    default_data_path: str  # used when the lake is created without a setting
    metadata_setting: str  # how the user named the metadata (for error messages)

    @property
    def attach_target(self) -> str:
        return f"ducklake:{self.kind}:{self.metadata}"

    @property
    def uses_object_store(self) -> bool:
        return any(
            str(p).startswith("s3://") for p in (self.data_path, self.default_data_path) if p
        )

    @property
    def data_setting(self) -> str:
        if self.data_path is not None:
            return f"{DATA_ENV}={self.data_path}"
        return f"{DATA_ENV} (unset: the lake's data path)"


def redact(url: str) -> str:
    """A URL without its password, fit for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def resolve(root: Path, metadata: str | None = None, data_path: str | None = None) -> LakeLocation:
    """Settings in order: explicit argument, environment, default under ``root``."""
    meta = metadata or os.environ.get(CATALOG_ENV) or None
    setting = f"{CATALOG_ENV}={redact(meta)}" if meta else f"catalog dir {root}"
    data = data_path or os.environ.get(DATA_ENV) or None
    if data is not None:
        data = _folder(data)
    default_data = _folder(str(root / "data"))
    if meta is None:
        return LakeLocation("sqlite", str(root / SQLITE_FILE), data, default_data, setting)
    if meta.startswith(POSTGRES_SCHEMES):
        _check_postgres_url(meta, setting)
        return LakeLocation("postgres", meta, data, default_data, setting)
    path = meta.removeprefix("sqlite:")
    return LakeLocation(
        "sqlite", str(Path(path).expanduser().resolve()), data, default_data, setting
    )


def _folder(path: str) -> str:
    """Data paths are folders: DuckLake wants the trailing slash."""
    if not path.startswith("s3://"):
        path = str(Path(path).expanduser().resolve())
    return path if path.endswith("/") else path + "/"


def _check_postgres_url(url: str, setting: str) -> None:
    parts = urlsplit(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise ValueError(f"{setting}: a PostgreSQL URL needs a host and a database name")
