"""``fourreal catalog ...`` and ``fourreal dataset ...``."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

console = Console()
catalog_app = typer.Typer(help="The catalog: Parquet tables, DuckDB views, lineage.")
dataset_app = typer.Typer(help="Immutable dataset snapshots.")

MAX_CHILDREN = 12


def print_table(table, title: str | None = None, max_rows: int = 200) -> None:
    out = Table(title=title, show_lines=False)
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(out)
    if table.num_rows > max_rows:
        console.print(f"... {table.num_rows - max_rows} more rows")


@catalog_app.command("init")
def init() -> None:
    """Create the catalog folders and the DuckDB view file."""
    from catalog.store import Catalog

    cat = Catalog()
    cat.init()
    console.print(f"catalog ready at {cat.dir} (DuckDB views: {cat.dir / 'catalog.duckdb'})")


@catalog_app.command("query")
def query(
    sql: str = typer.Argument(..., help="One SELECT over the catalog views"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table"),
    max_rows: int = typer.Option(200, help="Rows to print"),
) -> None:
    """Run a read-only SQL query (writes, COPY, ATTACH, INSTALL, outside files refused)."""
    from catalog.readonly import ReadOnlyQueryError, readonly_query
    from catalog.store import Catalog

    try:
        result = readonly_query(Catalog(), sql)
    except ReadOnlyQueryError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    if as_json:
        for row in result.slice(0, max_rows).to_pylist():
            print(json.dumps(row, default=str))
    else:
        print_table(result, max_rows=max_rows)


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
) -> None:
    """Show the chain from ID back to its datasets, samples, sources and runs."""
    from catalog.lineage import lineage
    from catalog.store import Catalog

    try:
        root = lineage(Catalog(), ident)
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    tree = Tree(f"[bold]{root.kind}[/bold] {root.id}  {root.label}")
    _tree(root, tree)
    console.print(tree)


@catalog_app.command("rebuild")
def rebuild() -> None:
    """Rewrite the DuckDB view file from the Parquet parts (safe at any time)."""
    from catalog.store import Catalog

    console.print(f"rebuilt {Catalog().rebuild_duckdb()}")


@dataset_app.command("create")
def create(
    name: str = typer.Argument(..., help="Dataset name"),
    where: str = typer.Option("true", "--where", help="SQL predicate over the samples view"),
    split: str = typer.Option("all", help="train | heldout | all"),
) -> None:
    """Snapshot the ok samples matching --where as an immutable dataset."""
    from catalog.datasets import create_dataset
    from catalog.store import Catalog

    try:
        row = create_dataset(Catalog(), name, where, split=split)
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    console.print(
        f"dataset {row['name']} id={row['dataset_id']} samples={row['num_samples']} "
        f"hash={row['content_hash'][:16]}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(dataset_app, name="dataset")
