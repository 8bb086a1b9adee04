"""A local Prefect stack: server on loopback, work pools, deployments, workers.

``up`` starts, in order, and records each process in a state file as soon as
it exists (so ``down`` can stop a half-started stack):

1. ``prefect server start`` on ``127.0.0.1:<port>`` with ``PREFECT_HOME`` under
   the data root (its own SQLite database, nothing in ``~/.prefect``);
2. the work pools ``cpu`` (data work) and ``gpu`` (training; concurrency 1),
   both of type ``process``;
3. ``prefect --no-prompt deploy --all`` from the repository root
   (``prefect.yaml``);
4. one ``prefect worker start`` per pool.

``down`` stops exactly the processes in the state file, checked by pid *and*
start time (a recycled pid is never signalled), plus the processes they
started (flow runs, a local Ray), found by walking ``/proc`` before the
signal. Workers can ignore one SIGTERM (docs/install.md#prefect-settings): SIGINT, a grace
period, then SIGKILL.

Layout under ``<data root>/prefect``::

    stack.json      what is running: pids, start times, URLs, pools
    logs/*.log      server, deploy and worker output
    prefect.db      the server's database (kept across up/down)
    results/        task results for cached tasks (see tasks/caching.py)
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.env import configure_environment
from core.io import atomic_write_text
from core.paths import REPO_ROOT, data_root
from fourreal.stack.pools import POOLS, deploy_all, ensure_pools, start_worker
from fourreal.stack.processes import ProcRecord, is_running, prefect_bin, spawn, stop_process, tail
from synthetic.videos import write_demo_corpus

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATE_FILE = "stack.json"


def prefect_home(root: Path | None = None) -> Path:
    return (root or data_root()) / "prefect"


def state_path(root: Path | None = None) -> Path:
    return prefect_home(root) / STATE_FILE


# ---- configuration and state ---------------------------------------------


@dataclass(kw_only=True)
class StackConfig:
    """What ``up`` starts."""

    host: str = "127.0.0.1"
    """Loopback address the server binds; the stack never listens elsewhere."""
    port: int = 4200
    """Server port; the UI is ``http://<host>:<port>``, the API ``.../api``."""
    workers: dict[str, int] = field(default_factory=lambda: {"cpu": 1, "gpu": 1})
    """Worker processes per pool (0 starts none for that pool)."""
    deploy: bool = True
    """Run ``prefect --no-prompt deploy --all`` after creating the pools."""
    poll_seconds: float = 10.0
    """How often workers ask the server for scheduled runs."""
    startup_timeout: float = 180.0
    """Seconds to wait for the server to answer ``/api/health`` (slow under load)."""
    demo_corpus: bool = False
    """Write the synthetic demo videos to ``<data>/corpus/demo`` (for ``build_clips/demo``)."""

    def __post_init__(self):
        if self.host not in LOOPBACK:
            raise ValueError(f"host: {self.host!r} is not a loopback address {LOOPBACK}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port: {self.port} is not in 1..65535")
        unknown = set(self.workers) - set(POOLS)
        if unknown:
            raise ValueError(f"workers: unknown pools {sorted(unknown)}; known: {sorted(POOLS)}")
        if any(n < 0 for n in self.workers.values()):
            raise ValueError("workers: counts must be >= 0")
        if self.poll_seconds <= 0:
            raise ValueError("poll_seconds: must be > 0")

    @property
    def ui_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"


@dataclass(kw_only=True)
class StackState:
    api_url: str
    ui_url: str
    prefect_home: str
    data_root: str
    pools: list[str] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    processes: list[ProcRecord] = field(default_factory=list)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        raw["processes"] = [ProcRecord(**p) for p in raw.get("processes", [])]
        return cls(**raw)


# ---- the stack ----------------------------------------------------------------


def stack_env(api_url: str | None, home: Path, root: Path) -> dict[str, str]:
    """Environment of every stack process: our defaults, our data root, our server."""
    configure_environment()
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        FOURREAL_HOME=str(root),
        FOURREAL_REPO=str(REPO_ROOT),
    )
    # A profile or an outer test harness must not point us at another server.
    for key in ("PREFECT_PROFILE", "PREFECT_API_KEY", "PREFECT_UI_URL"):
        env.pop(key, None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    else:
        env.pop("PREFECT_API_URL", None)
    return env


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def start_server(cfg: StackConfig, env: dict[str, str], logs: Path) -> ProcRecord:
    if not _port_free(cfg.host, cfg.port):
        raise RuntimeError(
            f"port {cfg.port} on {cfg.host} is in use; choose another with --port "
            f"(or run `fourreal status` if a stack is already up)"
        )
    server_env = dict(env)
    server_env.update(
        PREFECT_SERVER_API_HOST=cfg.host,
        PREFECT_SERVER_API_PORT=str(cfg.port),
        # The UI asks /ui-settings where the API is; without this it says :4200.
        PREFECT_UI_API_URL=cfg.api_url,
        PREFECT_UI_URL=cfg.ui_url,
    )
    cmd = [prefect_bin(), "server", "start", "--host", cfg.host, "--port", str(cfg.port)]
    return spawn("server", cmd, server_env, logs / "server.log")


def wait_healthy(cfg: StackConfig, server: ProcRecord) -> float:
    """Block until ``/api/health`` answers; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < cfg.startup_timeout:
        if api_healthy(cfg.api_url):
            return time.monotonic() - t0
        if not is_running(server):
            raise RuntimeError(f"the Prefect server exited:\n{tail(server.log)}")
        time.sleep(0.5)
    raise TimeoutError(
        f"the Prefect server did not answer within {cfg.startup_timeout:.0f} s:\n{tail(server.log)}"
    )


def up(cfg: StackConfig | None = None, log=print) -> StackState:
    """Start the stack; on any failure stop what was started and re-raise."""
    cfg = cfg or StackConfig()
    root = data_root()
    home = prefect_home(root)
    logs = home / "logs"
    spath = state_path(root)
    current = StackState.load(spath)
    if current and any(is_running(p) for p in current.processes):
        raise RuntimeError(
            f"a stack is already running ({current.ui_url}); `fourreal down` stops it"
        )
    home.mkdir(parents=True, exist_ok=True)
    state = StackState(
        api_url=cfg.api_url, ui_url=cfg.ui_url, prefect_home=str(home), data_root=str(root)
    )
    env = stack_env(cfg.api_url, home, root)
    if cfg.demo_corpus:
        log(f"demo corpus: {write_demo_corpus(root)}")
    try:
        server = start_server(cfg, env, logs)
        state.processes.append(server)
        state.save(spath)
        log(f"server pid {server.pid}: waiting for {cfg.api_url}/health ...")
        took = wait_healthy(cfg, server)
        log(f"server healthy after {took:.1f} s")
        state.pools = ensure_pools(cfg.api_url)
        state.save(spath)
        log(f"work pools: {', '.join(state.pools)}")
        if cfg.deploy:
            state.deployments = deploy_all(env, logs)
            state.save(spath)
            log(f"deployed {len(state.deployments)}: {', '.join(state.deployments)}")
        for pool, count in cfg.workers.items():
            for i in range(count):
                rec = start_worker(pool, i, env, logs, cfg.poll_seconds)
                state.processes.append(rec)
                state.save(spath)
                log(f"worker {rec.name} pid {rec.pid} (log {rec.log})")
    except BaseException:
        log("start failed; stopping what was started")
        down(log=log)
        raise
    log(f"UI: {cfg.ui_url}   API: {cfg.api_url}")
    return state


def down(grace: float = 20.0, log=print) -> list[tuple[str, int, str]]:
    """Stop what ``up`` recorded (workers first, then the server); remove the state file."""
    spath = state_path()
    state = StackState.load(spath)
    if state is None:
        log("nothing to stop (no stack state file)")
        return []
    report = []
    workers_first = sorted(state.processes, key=lambda p: p.name == "server")
    for rec in workers_first:
        how = stop_process(rec, grace)
        report.append((rec.name, rec.pid, how))
        log(f"{rec.name} pid {rec.pid}: {how}")
    spath.unlink(missing_ok=True)
    return report


def status() -> dict:
    """What the state file says and whether each process and the API are alive."""
    state = StackState.load(state_path())
    if state is None:
        return {"running": False, "state_file": str(state_path())}
    procs = [
        {"name": p.name, "pid": p.pid, "running": is_running(p), "log": p.log}
        for p in state.processes
    ]
    return {
        "running": any(p["running"] for p in procs),
        "api_healthy": api_healthy(state.api_url),
        "ui_url": state.ui_url,
        "api_url": state.api_url,
        "prefect_home": state.prefect_home,
        "pools": state.pools,
        "deployments": state.deployments,
        "processes": procs,
        "state_file": str(state_path()),
    }
