"""DuckDB extensions loaded from their PyPI packages, never downloaded.

``duckdb-extension-<name>`` wheels ship the extension binary. ducklake and
httpfs load by file path. sqlite and postgres do not: their entry points are
named after ``sqlite_scanner`` / ``postgres_scanner``, so they are loaded by
that name from an extension directory that links to the installed files.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import tempfile
from pathlib import Path

import duckdb

DUCKDB_VERSION = f"v{duckdb.__version__}"
# extension -> (PyPI module, file stem)
BY_PATH = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
}
BY_NAME = {
    "sqlite_scanner": ("duckdb_extension_sqlite", "sqlite"),
    "postgres_scanner": ("duckdb_extension_postgres", "postgres"),
}


class ExtensionMissing(RuntimeError):
    """An extension package is not installed for this DuckDB version."""


def installed_file(module: str, stem: str) -> Path:
    """The extension binary inside an installed ``duckdb-extension-*`` package."""
    try:
        root = importlib.resources.files(module)
    except ModuleNotFoundError:
        raise ExtensionMissing(
            f"DuckDB extension package {module.replace('_', '-')} is not installed "
            f"(pip install {module.replace('_', '-')}=={duckdb.__version__})"
        ) from None
    path = Path(str(root)) / "extensions" / DUCKDB_VERSION / f"{stem}.duckdb_extension"
    if not path.is_file():
        raise ExtensionMissing(
            f"{path} is missing: {module} does not match DuckDB {DUCKDB_VERSION}"
        )
    return path


@functools.cache
def extension_directory() -> Path:
    """A per-user folder in DuckDB's layout whose entries link to the installed files."""
    platform = duckdb.connect(":memory:").execute("PRAGMA platform").fetchone()[0]
    root = Path(tempfile.gettempdir()) / f"fourreal-duckdb-extensions-{os.getuid()}"
    folder = root / DUCKDB_VERSION / platform
    folder.mkdir(parents=True, exist_ok=True)
    for name, (module, stem) in BY_NAME.items():
        link = folder / f"{name}.duckdb_extension"
        target = installed_file(module, stem)
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        # Build the link beside it and rename: concurrent processes never see a half-made one.
        tmp = folder / f".tmp-{os.getpid()}-{name}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    return root


def load_extensions(con: duckdb.DuckDBPyConnection, *, metadata: str, httpfs: bool = False) -> None:
    """Load ducklake, the scanner of the metadata database, and httpfs when asked."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    for name in ["ducklake"] + (["httpfs"] if httpfs else []):
        path = str(installed_file(*BY_PATH[name])).replace("'", "''")
        con.execute(f"LOAD '{path}'")
    directory = str(extension_directory()).replace("'", "''")
    con.execute(f"SET extension_directory = '{directory}'")
    con.execute(f"LOAD {SCANNER[metadata]}")


SCANNER = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}
