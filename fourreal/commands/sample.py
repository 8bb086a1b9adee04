"""``fourreal sample export SAMPLE_ID --out FILE.npz``: any sample in its npz export contract.

Contracts (plain ``np.savez``, loadable with numpy alone): rendered grids
``rgb alpha depth K w2c times``; pseudo-4D ``grid frames affine
frame_indices`` (a virtual grid is warped here); clips ``frames
frame_indices fps mode``; generated grids ``grid times known``.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()
sample_app = typer.Typer(help="Samples of the store (rendered, pseudo-4D, clips, generated).")

MIN_PREFIX = 8
FIND_SQL = """
SELECT sample_id, kind, status, path, sha256, error FROM samples
WHERE sample_id LIKE ? ORDER BY sample_id LIMIT 2
"""


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(2)


def find_sample(catalog, ref: str) -> dict:
    """The catalog row of a sample id (or a unique prefix of at least 8 characters)."""
    if len(ref) < MIN_PREFIX or not all(c in "0123456789abcdef" for c in ref.lower()):
        raise ValueError(f"SAMPLE_ID: {ref!r} is not a sample id (hex, at least {MIN_PREFIX})")
    rows = catalog.rows(FIND_SQL, [ref.lower() + "%"])
    if not rows:
        raise ValueError(f"SAMPLE_ID: no sample {ref!r} in the catalog")
    if len(rows) > 1:
        raise ValueError(f"SAMPLE_ID: {ref!r} matches several samples; give more characters")
    row = rows[0]
    if row["status"] != "ok" or not row["path"]:
        raise ValueError(f"SAMPLE_ID: sample {row['sample_id']} failed: {row['error']}")
    return row


@sample_app.command("export")
def export(
    sample_id: str = typer.Argument(..., help="Sample id (or a unique prefix)"),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npz"),
) -> None:
    """Write SAMPLE_ID as a plain npz in its kind's export contract."""
    from catalog.store import Catalog
    from core import fs, sample_store

    if out.suffix != ".npz":
        _fail(f"--out: {str(out)!r} must end in .npz")
    try:
        fs.check_home()
        row = find_sample(Catalog(), sample_id)
        kind, keys = sample_store.export_npz(row["path"], out, row["sample_id"], row["sha256"])
    except (fs.StoreConfigError, ValueError) as e:  # SampleError is a ValueError
        _fail(str(e))
    console.print(f"wrote {out}: {kind} {' '.join(keys)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sample_app, name="sample")
