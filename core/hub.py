"""Files of a Hugging Face hub repository, through ``huggingface_hub`` and its cache.

Everything the hub client honours applies: ``HF_ENDPOINT`` (a mirror or a
proxy), ``HF_TOKEN``, ``HF_HUB_OFFLINE``, its cache (``HF_HUB_CACHE`` /
``HF_HOME``, or the ``cache_dir`` a build names) and its resumable downloads.
The driver resolves the endpoint and offline mode once (:meth:`HubConfig.from_env`)
and ships them with the work, so that Ray workers started earlier, with other
variables, download from the same place; the token stays in the environment
(never in a job).

Offline with the file in the cache, :func:`hub_file` returns the cached copy
without a request; offline without it, it fails at once with
:class:`HubUnavailable` naming the file and the cache it looked in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TRUE = {"1", "true", "yes", "on"}


class HubUnavailable(FileNotFoundError):
    """A hub file could not be had: offline and not cached, not found, or the hub failed.

    (A ``FileNotFoundError``: the CLI reports it in one line, exit 2, and a build's
    discovery does not retry it.)"""


@dataclass(frozen=True)
class HubConfig:
    """Where hub files come from and go (picklable: it travels with the jobs)."""

    endpoint: str | None = None  # None: huggingface_hub's default (huggingface.co)
    offline: bool = False
    cache_dir: str | None = None  # None: huggingface_hub's default cache
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls, cache_dir: str | os.PathLike | None = None) -> HubConfig:
        endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE
        cache = None if cache_dir is None else str(Path(cache_dir).expanduser())
        return cls(endpoint=endpoint, offline=offline, cache_dir=cache)

    def where(self) -> str:
        from huggingface_hub import constants

        return self.cache_dir or constants.HF_HUB_CACHE


@dataclass(frozen=True)
class HubFile:
    """One file of one repository at one revision."""

    repo_id: str
    filename: str
    repo_type: str = "dataset"
    revision: str = "main"

    def __str__(self) -> str:
        return f"{self.repo_type}s/{self.repo_id}/{self.filename}@{self.revision}"


def hub_file(ref: HubFile, cfg: HubConfig) -> Path:
    """The local path of ``ref`` (downloaded into the cache unless it is there)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return Path(
            hf_hub_download(
                ref.repo_id,
                ref.filename,
                repo_type=ref.repo_type,
                revision=ref.revision,
                endpoint=cfg.endpoint,
                cache_dir=cfg.cache_dir,
                local_files_only=cfg.offline,
                token=os.environ.get("HF_TOKEN") or None,
                etag_timeout=cfg.timeout_s,
            )
        )
    except LocalEntryNotFoundError:
        if cfg.offline:
            raise HubUnavailable(
                f"offline (HF_HUB_OFFLINE) and not in the cache {cfg.where()}: {ref}"
            ) from None
        raise HubUnavailable(
            f"the hub {cfg.endpoint or 'huggingface.co'} could not be reached and "
            f"{ref} is not in the cache {cfg.where()}"
        ) from None
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise HubUnavailable(f"not on the hub: {ref} ({type(e).__name__})") from None
    except HfHubHTTPError as e:
        raise HubUnavailable(f"hub error for {ref}: {str(e).splitlines()[0][:200]}") from None
    except OSError as e:
        raise HubUnavailable(f"cannot fetch {ref}: {type(e).__name__}: {e}") from None
