"""A terminal progress bar for builds (stderr; quiet when nothing is to do)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int, what: str) -> tqdm:
    """tqdm on stderr; disabled for an empty build or when stderr is not a terminal."""
    return tqdm(
        total=total,
        desc=what,
        unit="item",
        file=sys.stderr,
        disable=total == 0 or not sys.stderr.isatty(),
        dynamic_ncols=True,
    )
