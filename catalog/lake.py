"""Opening the DuckLake: one in-memory DuckDB with the lake attached as ``lake``."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from catalog.extensions import load_extensions
from catalog.location import LakeLocation
from catalog.retry import is_retryable

LAKE = "lake"
# DuckDB's name for the attached metadata database (its ducklake_* tables)
METADATA = f"__ducklake_metadata_{LAKE}"
NEW_LAKE_NEEDS_DATA_PATH = "data_path is not set"


class CatalogError(ValueError):
    """A catalog problem a user can fix; its message is one line."""


class CatalogUnavailable(CatalogError):
    """The metadata database or the data files cannot be reached."""


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def s3_secret_sql(env: dict[str, str] | None = None) -> str:
    """A DuckDB S3 secret from the standard AWS variables (no extension downloads)."""
    env = os.environ if env is None else env
    opts = {"TYPE": "s3", "PROVIDER": "config"}
    if key := env.get("AWS_ACCESS_KEY_ID"):
        opts["KEY_ID"] = _quote(key)
        opts["SECRET"] = _quote(env.get("AWS_SECRET_ACCESS_KEY", ""))
    if token := env.get("AWS_SESSION_TOKEN"):
        opts["SESSION_TOKEN"] = _quote(token)
    opts["REGION"] = _quote(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1")
    if endpoint := env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"):
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        opts["ENDPOINT"] = _quote(parts.netloc)
        opts["USE_SSL"] = "true" if parts.scheme == "https" else "false"
        opts["URL_STYLE"] = "'path'"  # self-hosted stores (MinIO, SeaweedFS) serve paths
    body = ", ".join(f"{k} {v}" for k, v in opts.items())
    return f"CREATE OR REPLACE SECRET fourreal_s3 ({body})"


def _prepare_sqlite(path: str) -> None:
    """Create the metadata file in WAL mode: readers never block the one writer."""
    file = Path(path)
    if file.exists():
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(file, timeout=30)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _attach(
    con: duckdb.DuckDBPyConnection,
    loc: LakeLocation,
    *,
    read_only: bool,
    snapshot: int | None,
    data_path: str | None,
) -> None:
    opts = []
    if data_path is not None:
        opts.append(f"DATA_PATH {_quote(data_path)}")
    if read_only:
        opts.append("READ_ONLY")
    if snapshot is not None:
        opts.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    options = f" ({', '.join(opts)})" if opts else ""
    con.execute(f"ATTACH {_quote(loc.attach_target)} AS {LAKE}{options}")


def open_lake(
    loc: LakeLocation, *, read_only: bool = False, snapshot: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake attached (created when new and writable)."""
    con = duckdb.connect(":memory:")
    try:
        load_extensions(con, metadata=loc.kind, httpfs=loc.uses_object_store)
        if loc.uses_object_store:
            con.execute(s3_secret_sql())
        con.execute("SET TimeZone = 'UTC'")
        # DuckLake retries a commit that lost a snapshot-id race a few times
        # itself; anything longer (a stale SQLite read, a logical conflict) is
        # retried as a whole transaction by catalog.retry, which is cheaper
        # than DuckLake's default of ten slow attempts.
        con.execute("SET ducklake_max_retry_count = 3")
        con.execute("SET ducklake_retry_wait_ms = 5")
        if loc.kind == "sqlite":
            if read_only and not Path(loc.metadata).exists():
                raise CatalogUnavailable(
                    f"catalog metadata {loc.metadata} does not exist ({loc.metadata_setting}); "
                    "run `fourreal catalog init`"
                )
            if not read_only:
                _prepare_sqlite(loc.metadata)
        kw = dict(read_only=read_only, snapshot=snapshot)
        try:
            _attach(con, loc, data_path=loc.data_path, **kw)
        except duckdb.Error as e:
            if read_only or loc.data_path is not None or NEW_LAKE_NEEDS_DATA_PATH not in str(e):
                raise
            _attach(con, loc, data_path=loc.default_data_path, **kw)  # a brand-new lake
    except duckdb.Error as e:
        con.close()
        if is_retryable(e):
            raise  # e.g. another process is creating the lake right now
        raise _unavailable(loc, e, snapshot) from None
    except BaseException:
        con.close()
        raise
    return con


def _unavailable(loc: LakeLocation, error: duckdb.Error, snapshot: int | None) -> CatalogError:
    msg = first_line(error)
    if snapshot is not None and "snapshot" in msg.lower():
        return CatalogError(f"catalog snapshot {snapshot}: {msg}")
    if "DATA_PATH" in msg:
        return CatalogError(f"catalog data path ({loc.data_setting}): {msg}")
    return CatalogUnavailable(f"catalog metadata unreachable ({loc.metadata_setting}): {msg}")
