"""Remote inputs (``http(s)://``, ``s3://``) fetched into a bounded local scratch area.

A build's workers call :func:`fetched` around the work on one remote file::

    with fetched(url, limits) as got:   # got.path: a local copy; deleted on exit
        probe(got.path) ...

The copy lives in ``<FOURREAL_LOCAL>/scratch/fetch/<random>/`` and is deleted
when the block ends, whatever happens inside it; one download is at most
``limits.max_bytes``, so the scratch area holds at most one cap per worker.

Clients: HTTP(S) through ``requests`` (a streamed GET; ``Content-Length``
checked against the bytes that arrived, so a truncated body is an error and
never a short file), S3 through pyarrow.fs configured by the standard AWS
variables (``core.fs``). Nothing here speaks a protocol by hand.

Errors are :class:`FetchError` with a one-line reason (``HTTP 404``, ``timed
out after 2s``, ``truncated: 1200 of 5000 bytes``, ``larger than the cap``).
Transient ones (connection errors, timeouts, truncation, HTTP 408/429/5xx) are
retried ``limits.retries`` times with exponential backoff; the rest fail at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

SCHEMES = ("http://", "https://", "s3://")
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK = 1 << 20
USER_AGENT = "fourreal-fetch"


class FetchError(Exception):
    """A remote input could not be fetched; ``str(e)`` is the catalog reason."""

    def __init__(self, reason: str, status: int | None = None, transient: bool = False):
        super().__init__(reason)
        self.status = status
        self.transient = transient


@dataclass(frozen=True)
class FetchLimits:
    """How much, how long and how often one download may try."""

    max_bytes: int = 2 << 30  # a bigger file is refused before (Content-Length) or while it arrives
    timeout_s: float = 60.0  # connect, and each wait for the next bytes
    deadline_s: float = 1800.0  # the whole download, every try included
    retries: int = 3  # further tries after a transient failure
    backoff_s: float = 1.0  # first wait between tries; doubled each time

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.timeout_s <= 0 or self.deadline_s <= 0:
            raise ValueError(f"fetch limits must be positive: {self}")
        if self.retries < 0 or self.backoff_s < 0:
            raise ValueError(f"fetch retries and backoff must be >= 0: {self}")


@dataclass(frozen=True)
class Fetched:
    """A local copy of a remote file and what the server said about it."""

    url: str
    path: Path
    bytes: int
    status: int | None = None  # HTTP status (None for S3)
    etag: str | None = None
    last_modified: str | None = None
    attempts: int = 1

    def record(self) -> dict:
        """What the catalog keeps about the download (``sources.meta_json``)."""
        d = asdict(self)
        d.pop("path")
        return {k: v for k, v in d.items() if v is not None}


def is_url(value: str) -> bool:
    return str(value).lower().startswith(SCHEMES)


def scratch_root() -> Path:
    from core.fs import local_root

    return local_root() / "scratch" / "fetch"


@contextlib.contextmanager
def fetched(url: str, limits: FetchLimits = FetchLimits()) -> Iterator[Fetched]:
    """Download ``url`` into a fresh scratch folder; the folder is deleted on exit."""
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="dl-", dir=root))
    try:
        yield download(url, folder / _local_name(url), limits)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _local_name(url: str) -> str:
    """The URL's last path part (its suffix tells decoders the container), made safe."""
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in tail)[-100:]
    return safe.lstrip(".") or "download"


def download(url: str, dest: Path, limits: FetchLimits = FetchLimits()) -> Fetched:
    """Fetch ``url`` to ``dest`` with retries and backoff; raises :class:`FetchError`."""
    if not is_url(url):
        raise FetchError(f"not a remote URL (want one of {', '.join(SCHEMES)}): {url!r}")
    get = _s3_get if url.lower().startswith("s3://") else _http_get
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            got = get(url, dest, limits, start + limits.deadline_s)
            return Fetched(**{**asdict(got), "attempts": attempt})
        except FetchError as e:
            dest.unlink(missing_ok=True)
            wait = limits.backoff_s * 2 ** (attempt - 1)
            late = time.monotonic() + wait > start + limits.deadline_s
            if not e.transient or attempt > limits.retries or late:
                tries = f" (after {attempt} tries)" if attempt > 1 else ""
                raise FetchError(f"{e}{tries}", e.status, e.transient) from None
            time.sleep(wait)


def _http_get(url: str, dest: Path, limits: FetchLimits, deadline: float) -> Fetched:
    import requests

    headers = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
    try:
        with requests.get(
            url, stream=True, timeout=(limits.timeout_s, limits.timeout_s), headers=headers
        ) as r:
            if r.status_code != 200:
                raise FetchError(
                    f"HTTP {r.status_code} {r.reason or ''}".strip(),
                    r.status_code,
                    r.status_code in RETRY_STATUSES,
                )
            expected = _int_or_none(r.headers.get("Content-Length"))
            if expected is not None and expected > limits.max_bytes:
                raise FetchError(_too_large(expected, limits), r.status_code)
            got = _write_stream(r.iter_content(CHUNK), dest, limits, deadline)
            if expected is not None and got != expected:
                raise FetchError(f"truncated: {got} of {expected} bytes", r.status_code, True)
            return Fetched(
                url=url,
                path=dest,
                bytes=got,
                status=r.status_code,
                etag=r.headers.get("ETag"),
                last_modified=r.headers.get("Last-Modified"),
            )
    except requests.exceptions.Timeout:
        raise FetchError(f"timed out after {limits.timeout_s:g}s", None, True) from None
    except requests.exceptions.ConnectionError as e:
        # a read timeout inside a streamed body arrives as a ConnectionError
        if "timed out" in str(e).lower():
            raise FetchError(f"timed out after {limits.timeout_s:g}s", None, True) from None
        raise FetchError(f"connection failed: {_short(e)}", None, True) from None
    except requests.exceptions.ChunkedEncodingError as e:  # the body ended early
        raise FetchError(f"truncated: {_short(e)}", None, True) from None
    except requests.exceptions.RequestException as e:
        raise FetchError(f"request failed: {_short(e)}") from None


def _s3_get(url: str, dest: Path, limits: FetchLimits, deadline: float) -> Fetched:
    import pyarrow.fs as pafs

    from core.fs import s3_filesystem

    path = url[len("s3://") :]
    try:
        s3 = s3_filesystem()
        info = s3.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise FetchError("not found in the bucket", 404)
        if info.type != pafs.FileType.File:
            raise FetchError("not a file (a prefix or a bucket)")
        if info.size is not None and info.size > limits.max_bytes:
            raise FetchError(_too_large(info.size, limits))
        with s3.open_input_stream(path) as stream:
            got = _write_stream(iter(lambda: stream.read(CHUNK), b""), dest, limits, deadline)
    except FetchError:
        raise
    except OSError as e:  # pyarrow reports S3 errors (network, auth) as OSError
        raise FetchError(f"S3 read failed: {_short(e)}", None, True) from None
    if info.size is not None and got != info.size:
        raise FetchError(f"truncated: {got} of {info.size} bytes", None, True)
    modified = info.mtime.isoformat() if info.mtime is not None else None
    return Fetched(url=url, path=dest, bytes=got, last_modified=modified)


def _write_stream(chunks, dest: Path, limits: FetchLimits, deadline: float) -> int:
    got = 0
    with open(dest, "wb") as f:
        for chunk in chunks:
            got += len(chunk)
            if got > limits.max_bytes:
                raise FetchError(_too_large(got, limits, "at least "))
            if time.monotonic() > deadline:
                raise FetchError(f"took longer than {limits.deadline_s:g}s in all")
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    return got


def _too_large(size: int, limits: FetchLimits, prefix: str = "") -> str:
    return f"larger than the cap: {prefix}{size} bytes > max_bytes {limits.max_bytes}"


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _short(e: Exception) -> str:
    return f"{type(e).__name__}: {str(e)[:200]}"
