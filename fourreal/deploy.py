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
signal. Workers can ignore one SIGTERM (STACK.md #6): SIGINT, a grace
period, then SIGKILL.

Layout under ``<data root>/prefect``::

    stack.json      what is running: pids, start times, URLs, pools
    logs/*.log      server, deploy and worker output
    prefect.db      the server's database (kept across up/down)
    results/        task results for cached tasks (see flows/caching.py)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fourreal.env import configure_environment
from fourreal.io import atomic_write_text
from fourreal.paths import REPO_ROOT, data_root

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STATE_FILE = "stack.json"
# Pools and the concurrency each one allows (None: unlimited). Training holds a
# whole GPU: one run at a time per gpu pool; the deployment limit in
# prefect.yaml says the same per training stage.
POOLS: dict[str, int | None] = {"cpu": None, "gpu": 1}


def prefect_home(root: Path | None = None) -> Path:
    return (root or data_root()) / "prefect"


def state_path(root: Path | None = None) -> Path:
    return prefect_home(root) / STATE_FILE


def prefect_bin() -> str:
    """The ``prefect`` executable of the running interpreter's environment."""
    exe = Path(sys.executable).with_name("prefect")
    return str(exe) if exe.exists() else "prefect"


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
class ProcRecord:
    """One process ``up`` started: pid plus its start time (in clock ticks since boot)."""

    name: str
    pid: int
    start_ticks: int
    cmd: list[str]
    log: str


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


# ---- processes -------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start ticks) of a live process, None if it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def is_running(rec: ProcRecord) -> bool:
    """True if the recorded process (same pid *and* same start time) is alive."""
    st = _stat(rec.pid)
    return st is not None and st[1] == rec.start_ticks


def _descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, start ticks) of every live descendant of ``pid``."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                children.setdefault(st[0], []).append((int(entry.name), st[1]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _signal(pid: int, start_ticks: int, sig: int) -> bool:
    st = _stat(pid)
    if st is None or st[1] != start_ticks:
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _reap(pid: int) -> None:
    """Collect a child's exit status if we are its parent (no zombies)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _wait_gone(pid: int, start_ticks: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        st = _stat(pid)
        if st is None or st[1] != start_ticks:
            return True
        time.sleep(0.1)
    return False


def stop_process(rec: ProcRecord, grace: float = 20.0) -> str:
    """Stop one recorded process and everything it started; returns what it took."""
    if not is_running(rec):
        return "not running"
    family = _descendants(rec.pid)
    how = "SIGINT"
    _signal(rec.pid, rec.start_ticks, signal.SIGINT)
    if not _wait_gone(rec.pid, rec.start_ticks, grace / 2):
        _signal(rec.pid, rec.start_ticks, signal.SIGINT)  # a worker may ignore the first
        how = "SIGINT x2"
        if not _wait_gone(rec.pid, rec.start_ticks, grace / 2):
            _signal(rec.pid, rec.start_ticks, signal.SIGKILL)
            _wait_gone(rec.pid, rec.start_ticks, 5)
            how = "SIGKILL"
    # Flow runs may run in their own session and outlive the worker: stop them too.
    leftovers = [(pid, ticks) for pid, ticks in family if _signal(pid, ticks, signal.SIGTERM)]
    for pid, ticks in leftovers:
        if not _wait_gone(pid, ticks, 5):
            _signal(pid, ticks, signal.SIGKILL)
    if leftovers:
        how += f", {len(leftovers)} child process(es) stopped"
    return how


def _spawn(name: str, cmd: list[str], env: dict[str, str], log: Path) -> ProcRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the caller's terminal does not reach it
        )
    st = _stat(proc.pid)
    if st is None:
        raise RuntimeError(f"{name} exited at once; see {log}")
    return ProcRecord(name=name, pid=proc.pid, start_ticks=st[1], cmd=cmd, log=str(log))


def _tail(path: str | Path, n: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return ""


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
    return _spawn("server", cmd, server_env, logs / "server.log")


def wait_healthy(cfg: StackConfig, server: ProcRecord) -> float:
    """Block until ``/api/health`` answers; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < cfg.startup_timeout:
        if api_healthy(cfg.api_url):
            return time.monotonic() - t0
        if not is_running(server):
            raise RuntimeError(f"the Prefect server exited:\n{_tail(server.log)}")
        time.sleep(0.5)
    raise TimeoutError(
        f"the Prefect server did not answer within {cfg.startup_timeout:.0f} s:\n"
        f"{_tail(server.log)}"
    )


def ensure_pools(api_url: str, pools: dict[str, int | None] = POOLS) -> list[str]:
    """Create (or update) the process work pools; idempotent."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with SyncPrefectClient(api=api_url) as client:
        for name, limit in pools.items():
            try:
                client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(
                    WorkPoolCreate(
                        name=name,
                        type="process",
                        base_job_template=template,
                        concurrency_limit=limit,
                        description=f"fourreal {name} work (process workers)",
                    )
                )
            else:
                client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=limit))
    return list(pools)


def deploy_all(env: dict[str, str], logs: Path, timeout: float = 600.0) -> list[str]:
    """``prefect --no-prompt deploy --all`` from the repo root; returns deployment names."""
    cmd = [prefect_bin(), "--no-prompt", "deploy", "--all"]
    log = logs / "deploy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    deploy_env = dict(env)
    # Keep `{{ $FOURREAL_REPO }}` in the pull step as a placeholder: each worker
    # resolves it to its own clone at run time (see prefect.yaml).
    deploy_env.pop("FOURREAL_REPO", None)
    res = subprocess.run(
        cmd, cwd=REPO_ROOT, env=deploy_env, capture_output=True, text=True, timeout=timeout
    )
    atomic_write_text(log, res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd[1:])}` failed ({res.returncode}):\n{_tail(log, 40)}")
    return deployment_names()


def deployment_names(yaml_path: Path = REPO_ROOT / "prefect.yaml") -> list[str]:
    """``flow/deployment`` names declared in ``prefect.yaml``."""
    import yaml

    doc = yaml.safe_load(yaml_path.read_text())
    return [f"{d['entrypoint'].rsplit(':', 1)[1]}/{d['name']}" for d in doc.get("deployments", [])]


def start_worker(
    pool: str, index: int, env: dict[str, str], logs: Path, poll_seconds: float
) -> ProcRecord:
    worker_env = dict(env)
    worker_env["PREFECT_WORKER_QUERY_SECONDS"] = str(poll_seconds)
    name = f"fourreal-{pool}-{index}"
    cmd = [prefect_bin(), "worker", "start", "--pool", pool, "--type", "process", "--name", name]
    return _spawn(f"worker-{pool}-{index}", cmd, worker_env, logs / f"{name}.log")


def ensure_demo_corpus(root: Path | None = None) -> Path:
    """The synthetic demo corpus the ``*/demo`` deployments read; written once."""
    from tasks.synthetic_video import make_demo_corpus

    folder = (root or data_root()) / "corpus" / "demo"
    if not any(folder.glob("*.mp4")):
        make_demo_corpus(folder)
    return folder


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
        log(f"demo corpus: {ensure_demo_corpus(root)}")
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
