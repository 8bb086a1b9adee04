"""Lineage: from a checkpoint, dataset, sample or source back to what made it.

Every edge walked here was written when the thing was made (checkpoint ->
parent checkpoint / dataset / run; dataset -> sample ids / run; sample ->
source / run; source -> run). Nothing is inferred after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog.schema import SAMPLE_COLUMNS
from catalog.store import Catalog

ROW_BY_ID = {
    "checkpoint": "SELECT * FROM checkpoints WHERE checkpoint_id = ?",
    "dataset": "SELECT * FROM datasets WHERE dataset_id = ?",
    "sample": f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE sample_id = ?",
    "source": "SELECT * FROM sources WHERE source_id = ?",
    "run": "SELECT * FROM runs WHERE run_id = ?",
}
SAMPLES_IN = (
    f"SELECT {SAMPLE_COLUMNS} FROM samples WHERE list_contains(?, sample_id) ORDER BY sample_id"
)
SOURCES_IN = "SELECT * FROM sources WHERE list_contains(?, source_id)"
RUNS_IN = "SELECT * FROM runs WHERE list_contains(?, run_id)"


@dataclass
class Node:
    kind: str  # checkpoint | dataset | sample | source | run
    id: str
    label: str
    row: dict
    children: list[Node] = field(default_factory=list)

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def kinds(self) -> set[str]:
        return {n.kind for n in self.walk()}


def _label(kind: str, row: dict) -> str:
    match kind:
        case "checkpoint":
            return f"checkpoint {row['stage']} step {row['step']} ({row['path']})"
        case "dataset":
            return f"dataset {row['name']} [{row['num_samples']} samples, split {row['split']}]"
        case "sample":
            return f"sample {row['kind']} {row['status']} ({row['path'] or row['error']})"
        case "source":
            return f"source {row['kind']} {row['status']} {row['uri']}"
        case "run":
            return f"run {row['flow']} {row['status']} (commit {str(row['git_commit'])[:10]})"
    return kind


class Lineage:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._runs: dict[str, dict] = {}

    def resolve(self, ident: str) -> tuple[str, dict]:
        """Which kind of thing ``ident`` names, and its row."""
        for kind, sql in ROW_BY_ID.items():
            rows = self.catalog.rows(sql, [ident])
            if rows:
                return kind, rows[0]
        if rows := self.catalog.rows(
            "SELECT * FROM datasets WHERE name = ? ORDER BY created_at DESC LIMIT 1", [ident]
        ):
            return "dataset", rows[0]
        raise ValueError(f"id {ident!r} is not a checkpoint, dataset, sample, source or run")

    def _run_nodes(self, run_ids: list[str | None]) -> dict[str, Node]:
        want = [r for r in set(run_ids) if r and r not in self._runs]
        if want:
            for row in self.catalog.rows(RUNS_IN, [want]):
                self._runs[row["run_id"]] = row
        return {
            r: Node("run", r, _label("run", self._runs[r]), self._runs[r])
            for r in run_ids
            if r in self._runs
        }

    def _attach_run(self, node: Node, run_id: str | None) -> None:
        if run_id and (runs := self._run_nodes([run_id])):
            node.children.append(runs[run_id])

    def build(self, ident: str) -> Node:
        kind, row = self.resolve(ident)
        return self._node(kind, row)

    def _node(self, kind: str, row: dict) -> Node:
        key = {
            "checkpoint": "checkpoint_id",
            "dataset": "dataset_id",
            "sample": "sample_id",
            "source": "source_id",
            "run": "run_id",
        }[kind]
        node = Node(kind, row[key], _label(kind, row), row)
        if kind == "checkpoint":
            self._attach_run(node, row["run_id"])
            if row["dataset_id"]:
                node.children.append(self.build(row["dataset_id"]))
            if row["parent_checkpoint_id"]:
                node.children.append(self.build(row["parent_checkpoint_id"]))
        elif kind == "dataset":
            self._attach_run(node, row["run_id"])
            node.children.extend(self._samples(row["sample_ids"]))
        elif kind == "sample":
            node.children.extend(self._samples([row["sample_id"]])[0].children)
        elif kind == "source":
            self._attach_run(node, row["run_id"])
        return node

    def _samples(self, sample_ids: list[str]) -> list[Node]:
        """Sample nodes with their source and run, fetched in three bulk queries."""
        samples = self.catalog.rows(SAMPLES_IN, [list(sample_ids)])
        source_ids = sorted({s["source_id"] for s in samples if s["source_id"]})
        sources = {r["source_id"]: r for r in self.catalog.rows(SOURCES_IN, [source_ids])}
        runs = self._run_nodes(
            [s["run_id"] for s in samples] + [s["run_id"] for s in sources.values()]
        )
        out = []
        for s in samples:
            node = Node("sample", s["sample_id"], _label("sample", s), s)
            if (src := sources.get(s["source_id"])) is not None:
                src_node = Node("source", src["source_id"], _label("source", src), src)
                if src["run_id"] in runs:
                    src_node.children.append(runs[src["run_id"]])
                node.children.append(src_node)
            if s["run_id"] in runs:
                node.children.append(runs[s["run_id"]])
            out.append(node)
        return out


def lineage(catalog: Catalog, ident: str, as_of: int | None = None) -> Node:
    """The lineage tree of ``ident``; with ``as_of``, as the lake was at that snapshot."""
    return Lineage(catalog.as_of(as_of) if as_of is not None else catalog).build(ident)
