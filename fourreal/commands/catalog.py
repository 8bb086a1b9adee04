"""``fourreal catalog ...`` and ``fourreal dataset ...``.

Expected errors (bad SQL, refused statements, unknown ids, an unreachable
lake) print one line and exit with code 2.
"""

from __future__ import annotations

import contextlib
import json

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from fourreal.commands.options import fail, lazy_command, model_command, parse

console = Console()
catalog_app = typer.Typer(help="The catalog (a DuckLake): query, lineage, maintenance.")
dataset_app = typer.Typer(help="Immutable dataset snapshots.")

MAX_CHILDREN = 12


@contextlib.contextmanager
def one_line_errors():
    """Turn expected errors into ``error: <one line>`` and exit code 2."""
    import duckdb

    from catalog.retry import CommitGaveUp

    try:
        yield
    except (ValueError, duckdb.Error, CommitGaveUp) as e:
        text = str(e).strip().splitlines()
        raise fail(text[0] if text else type(e).__name__) from None


def print_table(table, title: str | None = None, max_rows: int = 200) -> None:
    out = Table(title=title, show_lines=False)
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(out)
    if table.num_rows > max_rows:
        console.print(f"... {table.num_rows - max_rows} more rows")


def print_rows(table, as_json: bool, max_rows: int) -> None:
    if as_json:
        for row in table.slice(0, max_rows).to_pylist():
            print(json.dumps(row, default=str))
    else:
        print_table(table, max_rows=max_rows)


@catalog_app.command("init")
def init() -> None:
    """Create the lake and its tables (safe to repeat)."""
    from catalog.store import Catalog

    with one_line_errors():
        cat = Catalog()
        cat.init()
        where = cat.location.metadata_setting
        script = cat.write_attach_script()
    console.print(f"catalog ready ({where}); query by hand: duckdb -init {script}")


@catalog_app.command("query")
def query(
    sql: str = typer.Argument(..., help="One SELECT over the catalog tables"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table"),
    max_rows: int = typer.Option(200, help="Rows to print"),
    as_of: int | None = typer.Option(None, "--as-of", help="Query the lake as of this snapshot"),
) -> None:
    """Run a read-only SQL query (writes, COPY, ATTACH, INSTALL, outside files refused)."""
    from catalog.readonly import readonly_query
    from catalog.store import Catalog

    with one_line_errors():
        result = readonly_query(Catalog(), sql, snapshot=as_of)
    print_rows(result, as_json, max_rows)


def _tree(node, tree: Tree) -> None:
    kids = node.children
    for child in kids[:MAX_CHILDREN]:
        sub = tree.add(f"[bold]{child.kind}[/bold] {child.id[:16]}  {child.label}")
        _tree(child, sub)
    if len(kids) > MAX_CHILDREN:
        tree.add(f"... and {len(kids) - MAX_CHILDREN} more")


@catalog_app.command("lineage")
def lineage_cmd(
    ident: str = typer.Argument(..., help="A checkpoint, dataset, sample, source or run id"),
    as_of: int | None = typer.Option(
        None, "--as-of", help="Walk the lake as it was at this snapshot"
    ),
) -> None:
    """Show the chain from ID back to its datasets, samples, sources and runs."""
    from catalog.lineage import lineage
    from catalog.store import Catalog

    with one_line_errors():
        root = lineage(Catalog(), ident, as_of=as_of)
    tree = Tree(f"[bold]{root.kind}[/bold] {root.id}  {root.label}")
    _tree(root, tree)
    console.print(tree)


@catalog_app.command("snapshots")
def snapshots(
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table"),
    max_rows: int = typer.Option(50, help="Newest snapshots to print"),
) -> None:
    """List the lake's snapshots (ids for --as-of), newest first."""
    from catalog.store import Catalog

    with one_line_errors():
        table = Catalog().snapshots()
    rows = table.take(list(range(table.num_rows - 1, -1, -1)))
    print_rows(rows, as_json, max_rows)


@catalog_app.command("compact")
def compact_cmd(
    keep_days: float = typer.Option(
        7.0, help="Keep snapshots younger than this for time travel (pinned ones always stay)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Rewrite files with deletes, merge small files, expire snapshots no dataset pins, delete unneeded files."""
    from catalog.maintenance import compact
    from catalog.store import Catalog

    with one_line_errors():
        report = compact(Catalog(), keep_days=keep_days)
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    console.print(
        f"files {report.files_before} -> {report.files_after} "
        f"({report.files_rewritten} rewritten for their deletes); snapshots "
        f"{report.snapshots_before} -> {report.snapshots_after} "
        f"({len(report.expired)} expired, pinned by datasets: {report.pinned})"
    )


@catalog_app.command("migrate")
def migrate_cmd(
    source: str | None = typer.Option(
        None, "--from", help="Folder of the old catalog (default: the catalog folder)"
    ),
) -> None:
    """Import a catalog of the previous format (Parquet part files) into the lake."""
    from catalog.migrate import migrate
    from catalog.store import Catalog

    with one_line_errors():
        counts = migrate(Catalog(), source)
    console.print("imported " + ", ".join(f"{t}: {n} rows" for t, n in counts.items()))


CREATE_DOC = "Snapshot the ok samples matching --where as an immutable dataset."


def create_command():
    """``dataset create NAME``: the options are SnapshotParams' fields; the code and the
    lineage (its ``runs`` row) are the ``snapshot_dataset`` flow's (tasks.snapshot)."""
    from tasks.snapshot import SnapshotParams, snapshot

    def body(values: dict) -> None:
        params = parse(SnapshotParams, values)
        with one_line_errors():
            row = snapshot(params).row
        console.print(
            f"dataset {row['name']} id={row['dataset_id']} samples={row['num_samples']}"
            f"{_heldout_text(row)} hash={row['content_hash'][:16]} "
            f"lake snapshot={row['snapshot_id']}",
            soft_wrap=True,
        )

    return model_command(SnapshotParams, body, name="create", doc=CREATE_DOC, positional=("name",))


@dataset_app.command("create", cls=lazy_command(create_command), help=CREATE_DOC)
def create() -> None:
    """Stands in for the lazy command in the group's listing; never runs."""


def _heldout_text(row: dict) -> str:
    """`` heldout=N (fraction F of sources, split_seed S)`` for a split snapshot, else ``''``."""
    if not row.get("heldout_fraction"):
        return ""
    if row["split"] == "heldout":  # NAME:heldout, the held-out part itself
        return f" (the held-out part of {row['name']}, by source, split_seed {row['split_seed']})"
    n = len(row.get("heldout_sample_ids") or [])
    return (
        f" heldout={n} (by source: fraction {row['heldout_fraction']:g}, "
        f"split_seed {row['split_seed']}; read it as {row['name']}:heldout)"
    )


@dataset_app.command("show")
def show(
    ref: str = typer.Argument(
        ..., help="Dataset name (its latest snapshot) or id; NAME:heldout for its held-out part"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table"),
    max_rows: int = typer.Option(200, help="Sample rows to print"),
) -> None:
    """The dataset's sample rows exactly as they were at its pinned lake snapshot.

    A split snapshot lists its train part, then says how many samples (and sources)
    are held out; ``NAME:heldout`` lists those.
    """
    import pyarrow as pa

    from catalog.datasets import dataset_samples, get_dataset
    from catalog.store import Catalog

    with one_line_errors():
        cat = Catalog()
        ds = get_dataset(cat, ref)
        rows = pa.Table.from_pylist(dataset_samples(cat, ds["dataset_id"]))
    if as_json:
        print_rows(rows, True, max_rows)
        return
    console.print(
        f"dataset {ds['name']} id={ds['dataset_id']} samples={ds['num_samples']} "
        f"split={ds['split']}{_heldout_text(ds)} lake snapshot={ds['snapshot_id']} "
        f"where: {ds['query']}",
        soft_wrap=True,
    )
    print_table(rows, max_rows=max_rows)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(dataset_app, name="dataset")
