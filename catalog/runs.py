"""Run records: every flow run writes a ``runs`` row when it starts and ends.

No Prefect here: the flow side passes its flow-run id in. Lineage is
recorded as the run goes (inputs/outputs ids), never reconstructed later.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import socket
import subprocess
import uuid
from dataclasses import dataclass, field

from catalog.ids import canonical_json
from catalog.store import Catalog, utcnow
from core.paths import REPO_ROOT

STATUSES = ("running", "completed", "failed", "interrupted")
TRACKED_PACKAGES = (
    "fourreal",
    "torch",
    "prefect",
    "ray",
    "pyarrow",
    "duckdb",
    "numpy",
    "trimesh",
    "pyrender",
    "pygltflib",
    "decord",
    "av",
    "safetensors",
)


@functools.cache
def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the code being run; (None, None) outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


@dataclass
class RunRecord:
    """One run being recorded. Use ``start_run`` to make one."""

    catalog: Catalog
    run_id: str
    flow: str
    parameters: dict
    started_at: object
    inputs: dict[str, list[str]] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    final_status: str | None = None
    """Set by ``mark``: the status ``finish`` records whatever it is asked (e.g. interrupted)."""

    def add_input(self, kind: str, ident: str) -> None:
        if ident not in self.inputs.setdefault(kind, []):
            self.inputs[kind].append(ident)

    def add_output(self, kind: str, ident: str) -> None:
        if ident not in self.outputs.setdefault(kind, []):
            self.outputs[kind].append(ident)

    def _row(self, status: str, error: str | None, ended: bool) -> dict:
        commit, dirty = git_state()
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "parameters_json": canonical_json(self.parameters),
            "git_commit": commit,
            "git_dirty": dirty,
            "packages_json": json.dumps(package_versions(), sort_keys=True),
            "host": socket.gethostname(),
            "started_at": self.started_at,
            "ended_at": utcnow() if ended else None,
            "status": status,
            "error": error,
            "inputs_json": canonical_json(self.inputs),
            "outputs_json": canonical_json(self.outputs),
        }

    def mark(self, status: str) -> None:
        """Record ``status`` when the run finishes, e.g. ``interrupted``: a run stopped by
        SIGTERM raises (so that nothing after it runs) but did not fail."""
        if status not in STATUSES:
            raise ValueError(f"status: {status!r} is not one of {STATUSES}")
        self.final_status = status

    def finish(self, status: str = "completed", error: str | None = None) -> None:
        status = self.final_status or status
        self.catalog.append("runs", [self._row(status, error, ended=True)])


def start_run(
    catalog: Catalog, flow: str, parameters: dict, run_id: str | None = None
) -> RunRecord:
    """Write the ``running`` row and return the record to finish later."""
    rec = RunRecord(
        catalog=catalog,
        run_id=run_id or str(uuid.uuid4()),
        flow=flow,
        parameters=parameters,
        started_at=utcnow(),
    )
    catalog.append("runs", [rec._row("running", None, ended=False)])
    return rec
