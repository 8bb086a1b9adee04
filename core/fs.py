"""The data root as a filesystem: a local folder or an S3 bucket prefix.

``FOURREAL_HOME`` is either a local path (the default, ``./data`` in the repo)
or ``s3://bucket/prefix``; for S3 the standard variables apply:
``AWS_ENDPOINT_URL`` (any S3-compatible server; ``http://`` turns TLS off),
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION``. The
client is pyarrow.fs (range reads, multipart uploads); nothing here speaks
HTTP by hand.

Paths handed to this module are either relative to the data root (what the
catalog stores) or absolute local paths (a user's ``--out``, a legacy row).

Atomicity: locally, a temporary sibling is fsynced and renamed; on S3 an
object becomes visible only when its upload completes, and :func:`put_bytes`
hands pyarrow the whole payload before closing the stream, so a killed
writer leaves no object (at most an orphaned multipart upload, which bucket
lifecycle rules reap) rather than a truncated one. :func:`put_new` writes only where
nothing is (the sample store's first-writer-wins rule; see its docstring for S3).

Files that must stay on the local disk whatever the data root is (Prefect
home, temporary files, caches, the catalog until it moves to the lake) live
under :func:`local_root`: ``FOURREAL_LOCAL``, else the data root when it is
local, else ``./data`` in the repo.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from core.io import TMP_PREFIX, atomic_path

# core/ sits at the repository root; the default data root is <repo>/data
REPO_ROOT = Path(__file__).resolve().parents[1]
S3_SCHEME = "s3://"
HOME_VAR = "FOURREAL_HOME"
LOCAL_VAR = "FOURREAL_LOCAL"
CONCURRENT_REQUESTS = 16  # below the AWS SDK's 25 pooled connections per client
AWS_VARS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


class StoreConfigError(RuntimeError):
    """The data root is unusable; the message is one line naming the variable to fix."""


@dataclass(frozen=True)
class DataRoot:
    """Where samples live: a pyarrow filesystem and the base path inside it."""

    uri: str  # as the user wrote it, normalised: /abs/path or s3://bucket/prefix
    fs: pafs.FileSystem
    base: str  # path inside ``fs``: /abs/path or bucket/prefix

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def join(self, rel: str) -> str:
        rel = str(rel).lstrip("/")
        if ".." in rel.split("/"):  # a str split: no Path per call (10,000 per rebuild)
            raise ValueError(f"path {rel!r} escapes the data root {self.uri}")
        return f"{self.base.rstrip('/')}/{rel}" if rel else self.base

    def uri_of(self, rel: str) -> str:
        return self.join(rel) if self.is_local else S3_SCHEME + self.join(rel)


def is_remote(uri: str | os.PathLike) -> bool:
    return str(uri).startswith(S3_SCHEME)


def _s3_filesystem() -> pafs.S3FileSystem:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    kwargs: dict = {
        "region": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
        "connect_timeout": 5.0,
        "request_timeout": 60.0,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
    }
    if endpoint:
        if "://" not in endpoint:
            raise StoreConfigError(
                f"AWS_ENDPOINT_URL: {endpoint!r} needs a scheme (http:// or https://)"
            )
        scheme, host = endpoint.split("://", 1)
        if scheme not in ("http", "https") or not host:
            raise StoreConfigError(f"AWS_ENDPOINT_URL: {endpoint!r} is not an http(s) URL")
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if bool(key) != bool(secret):
        missing = "AWS_SECRET_ACCESS_KEY" if key else "AWS_ACCESS_KEY_ID"
        raise StoreConfigError(f"{missing}: not set (both AWS keys are needed, or neither)")
    if key:
        kwargs.update(access_key=key, secret_key=secret)
    return pafs.S3FileSystem(**kwargs)


def s3_filesystem() -> pafs.S3FileSystem:
    """An S3 client configured by the AWS variables (for ``s3://`` inputs anywhere)."""
    return _s3_filesystem()


_roots: dict[tuple[str, ...], DataRoot] = {}
_inherited: list[dict] = []


def _forget_roots_in_child() -> None:
    """After ``fork`` (DataLoader workers, multiprocessing): make new S3 clients.

    A child inherits its parent's open S3 connections; two processes speaking
    over one socket interleave their HTTP streams (wrong bytes, requests that
    hang until the timeout). The inherited clients are kept referenced, never
    used nor destroyed here: closing them could send a TLS close on the
    parent's sockets.
    """
    if _roots:
        _inherited.append(dict(_roots))
        _roots.clear()


os.register_at_fork(after_in_child=_forget_roots_in_child)


def _root_for(home: str, *env: str) -> DataRoot:
    """One filesystem per (home, AWS variables) and process: pyarrow clients are reused."""
    key = (home, *env)
    if key not in _roots:
        _roots[key] = _make_root(home)
    return _roots[key]


def _make_root(home: str) -> DataRoot:
    if is_remote(home):
        base = home[len(S3_SCHEME) :].strip("/")
        if not base or base.startswith("/"):
            raise StoreConfigError(f"{HOME_VAR}: {home!r} names no bucket (s3://bucket/prefix)")
        return DataRoot(uri=S3_SCHEME + base, fs=_s3_filesystem(), base=base)
    path = Path(home).expanduser().resolve()
    return DataRoot(uri=str(path), fs=pafs.LocalFileSystem(), base=str(path))


def home() -> DataRoot:
    """The data root named by ``FOURREAL_HOME`` (default ``./data`` in the repo)."""
    raw = os.environ.get(HOME_VAR) or str(REPO_ROOT / "data")
    return _root_for(raw, *(os.environ.get(v, "") for v in AWS_VARS))


def local_root() -> Path:
    """Local folder for Prefect home, temporary files and caches (created on first use)."""
    raw = os.environ.get(LOCAL_VAR)
    if not raw:
        home_raw = os.environ.get(HOME_VAR)
        raw = home_raw if home_raw and not is_remote(home_raw) else str(REPO_ROOT / "data")
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_home() -> DataRoot:
    """Fail before any work when the data root cannot be used: one line naming the variable.

    Local: the folder is created. S3: the bucket must exist and answer a listing
    with these credentials.
    """
    root = home()
    if root.is_local:
        Path(root.base).mkdir(parents=True, exist_ok=True)
        return root
    bucket = root.base.split("/", 1)[0]
    try:  # a listing first: unlike HeadBucket, its errors carry the S3 error code
        root.fs.get_file_info(pafs.FileSelector(root.base, allow_not_found=True))
        info = root.fs.get_file_info(bucket)
    except OSError as e:
        raise StoreConfigError(_explain(e, root)) from None
    if info.type == pafs.FileType.NotFound:
        raise StoreConfigError(f"{HOME_VAR}: bucket {bucket!r} does not exist at {_endpoint()}")
    return root


def _endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or "the default AWS endpoint"


def _explain(e: OSError, root: DataRoot) -> str:
    """One line naming the variable most likely wrong, from pyarrow's AWS error text."""
    text = " ".join(str(e).split())
    low = text.lower()
    if "nosuchbucket" in low or "no_such_bucket" in low or "bucket does not exist" in low:
        var = HOME_VAR
    elif any(s in low for s in ("access key", "accesskey", "invalid_access")):
        var = "AWS_ACCESS_KEY_ID"
    elif "signature" in low or "secret" in low:
        var = "AWS_SECRET_ACCESS_KEY"
    elif any(s in low for s in ("region", "authorizationheadermalformed")):
        var = "AWS_REGION"
    elif any(s in low for s in ("access denied", "access_denied", "forbidden", "403")):
        var = "AWS_ACCESS_KEY_ID"
    elif any(s in low for s in ("connect", "resolve", "network", "timeout", "timed out", "curl")):
        var = "AWS_ENDPOINT_URL"
    else:
        var = HOME_VAR
    return f"{var}: cannot use {root.uri} at {_endpoint()}: {text[:200]}"


# ------------------------------------------------------------------ operations
def locate(path: str | os.PathLike, root: DataRoot | None = None) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path inside it)`` of a root-relative path, an absolute path or an s3 URI.

    ``root``: ``home()``, looked up once by a caller locating many paths.
    """
    p = str(path)
    root = root or home()
    if is_remote(p):
        if root.is_local:
            raise StoreConfigError(f"{HOME_VAR}: {p} is on S3 but the data root is {root.uri}")
        return root.fs, p[len(S3_SCHEME) :]
    if os.path.isabs(p):
        return pafs.LocalFileSystem(), p
    return root.fs, root.join(p)


def describe(path: str | os.PathLike) -> str:
    """Human-readable location (for error messages)."""
    fs, p = locate(path)
    return p if isinstance(fs, pafs.LocalFileSystem) else S3_SCHEME + p


def put_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` as one complete file: readers see the old file, the new one or none."""
    fs, p = locate(path)
    if isinstance(fs, pafs.LocalFileSystem):
        with atomic_path(p) as tmp:
            tmp.write_bytes(data)
        return
    with fs.open_output_stream(p) as out:  # S3: the object appears on close, whole
        out.write(data)


def put_new(path: str | os.PathLike, data: bytes) -> bytes | None:
    """Write ``data`` unless a file is already there: None when written, else its bytes.

    Locally this is exclusive: the complete temporary file is hard-linked to the final
    name, which fails if any writer got there first (no window between check and write).
    On S3 the object is looked up, then put: pyarrow has no conditional PUT
    (``If-None-Match``), so two writers that both find nothing both write; the sample
    store makes the same bytes from the same inputs, which closes that gap for the
    files it names after their content.
    """
    fs, p = locate(path)
    if not isinstance(fs, pafs.LocalFileSystem):
        if fs.get_file_info(p).type == pafs.FileType.File:
            with fs.open_input_file(p) as f:
                return f.read()
        put_bytes(path, data)
        return None
    final = Path(p)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=final.suffix, dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, final)
            return None
        except FileExistsError:
            return final.read_bytes()
        except OSError as e:  # a filesystem without hard links: check, then rename
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if final.is_file():
                return final.read_bytes()
            os.replace(tmp, final)
            return None
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_bytes(path: str | os.PathLike) -> bytes:
    fs, p = locate(path)
    if isinstance(fs, pafs.LocalFileSystem):
        return Path(p).read_bytes()
    with fs.open_input_file(p) as f:
        return f.read()


def open_input(path: str | os.PathLike):
    """A seekable binary file; on S3 each read is a ranged GET (nothing read up front)."""
    fs, p = locate(path)
    if isinstance(fs, pafs.LocalFileSystem):
        return open(p, "rb")  # noqa: SIM115 - the caller closes it
    return fs.open_input_file(p)


def exists(path: str | os.PathLike) -> bool:
    fs, p = locate(path)
    return fs.get_file_info(p).type == pafs.FileType.File


def exist_all(paths: list[str | os.PathLike]) -> list[bool]:
    """:func:`exists` of each path. On S3 the requests overlap: one HEAD is a round trip
    (milliseconds to tens of them), so checking a large snapshot one by one takes minutes."""
    if home().is_local:
        return [exists(p) for p in paths]
    with ThreadPoolExecutor(max_workers=CONCURRENT_REQUESTS) as pool:
        return list(pool.map(exists, paths))


# Below this many paths inside the folder, one check per path is cheaper than listing a
# folder that may hold far more files than were asked about (an S3 LIST page is 1000 keys).
LIST_AT = 64


def existing(
    paths: Iterable[str | os.PathLike], under: str | os.PathLike, list_at: int = LIST_AT
) -> set[str]:
    """Which of ``paths`` are files (returned as given); those inside folder ``under`` are
    answered by one recursive listing of it when there are at least ``list_at`` of them.

    On S3 a check per path is a HEAD request each: 10,000 recorded samples would be
    10,000 round trips, against ten LIST pages for the folder. Paths elsewhere (an
    older output folder, an absolute path) are checked one by one (``exist_all``).
    """
    paths = [str(p) for p in paths]
    ufs, base = locate(under)
    prefix = base.rstrip("/") + "/"
    root = home()
    where = {p: locate(p, root) for p in paths}
    inside = {
        p: q for p, (f, q) in where.items() if f.type_name == ufs.type_name and q.startswith(prefix)
    }
    if len(inside) < list_at:
        inside = {}
    rest = [p for p in paths if p not in inside]
    found = {p for p, ok in zip(rest, exist_all(rest), strict=True) if ok}
    if inside:
        sel = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        listed = {i.path for i in ufs.get_file_info(sel) if i.type == pafs.FileType.File}
        found |= {p for p, q in inside.items() if q in listed}
    return found


def size(path: str | os.PathLike) -> int:
    """Bytes of a file; ``FileNotFoundError`` when it is not there."""
    fs, p = locate(path)
    info = fs.get_file_info(p)
    if info.type != pafs.FileType.File:
        raise FileNotFoundError(f"no file at {describe(path)}")
    return int(info.size)


def delete(path: str | os.PathLike) -> None:
    """Remove a file; a missing file is fine."""
    fs, p = locate(path)
    if fs.get_file_info(p).type == pafs.FileType.File:
        fs.delete_file(p)


def listing(prefix: str | os.PathLike = "") -> list[str]:
    """Files under a folder (recursive), as paths relative to that folder, sorted."""
    fs, p = locate(prefix)
    sel = pafs.FileSelector(p, recursive=True, allow_not_found=True)
    base = p.rstrip("/") + "/"
    return sorted(
        i.path[len(base) :]
        for i in fs.get_file_info(sel)
        if i.type == pafs.FileType.File and not Path(i.path).name.startswith(".tmp-")
    )
