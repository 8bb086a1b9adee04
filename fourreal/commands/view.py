"""``fourreal view TARGET``: a sample in Rerun (cameras, frames, depth, animation time)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from core.io import atomic_path

WEB_PORT = 9090  # Rerun's own default for its web viewer
STOP_GRACE_S = 10.0  # the rerun server shuts down gracefully on SIGTERM within a few seconds
START_TIMEOUT_S = 60.0


def _fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr (rich would wrap long paths over several lines)."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def view_cmd(
    target: str = typer.Argument(
        ..., help="Sample id (or a unique prefix), dataset name or id, or an npz in the data root"
    ),
    save: Path | None = typer.Option(None, "--save", help="Write the recording to FILE.rrd, exit"),
    web: bool = typer.Option(False, "--web", help="Serve the web viewer on 127.0.0.1, print URL"),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help=f"HTTP port of --web (default {WEB_PORT})"
    ),
    limit: int = typer.Option(4, "--limit", min=1, max=1000, help="Samples shown of a dataset"),
) -> None:
    """Log TARGET as a Rerun recording and open it (native viewer, --web, or --save)."""
    from catalog.store import Catalog
    from fourreal import viewer

    if save is not None and web:
        raise _fail("--save and --web: give one of them")
    if save is not None and save.suffix != ".rrd":
        raise _fail(f"--save: {str(save)!r} must end with .rrd")
    if port is not None and not web:
        raise _fail("--port: only with --web")
    if save is None and not web and not has_display():
        raise _fail("no display for the native viewer: use --web or --save FILE.rrd")
    catalog = Catalog()
    try:
        targets = viewer.resolve_targets(target, catalog, limit)
    except ValueError as e:
        raise _fail(str(e)) from None
    if save is not None:
        kinds = _record(targets, catalog, save)
        shown = ", ".join(f"{t.label} {k}" for t, k in zip(targets, kinds, strict=True))
        print(f"wrote {save} ({shown})")
        return
    with tempfile.TemporaryDirectory(prefix="fourreal-view-") as tmp:
        home = Path(tmp)
        rrd = home / "recording.rrd"
        _record(targets, catalog, rrd)
        if web:
            _serve_web(rrd, port or WEB_PORT, home)
        else:
            _run_until_stopped(start_native_viewer(rrd, home), home)


def _record(targets, catalog, path: Path) -> list[str]:
    """The recording, or one line saying which sample file is unreadable (nothing written)."""
    from fourreal import viewer

    try:
        return viewer.record(targets, catalog, path)
    except ValueError as e:
        raise _fail(f"cannot read the sample {e}") from None


def _serve_web(rrd: Path, port: int, home: Path) -> None:
    if port_open(port):
        raise _fail(f"--port: 127.0.0.1:{port} is already in use")
    grpc_port = free_port()
    proc = start_web_viewer(rrd, port, grpc_port, home)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise _fail(f"the web viewer did not start: {_last_log_line(home)}", 1)
        time.sleep(0.1)
    print(f"web viewer: {web_url(port, grpc_port)}", flush=True)
    print("serving on 127.0.0.1 only; Ctrl-C stops it", flush=True)
    _run_until_stopped(proc, home)


def _last_log_line(home: Path) -> str:
    """Rerun's last words (its error, when it failed), without terminal colours."""
    lines = (home / "rerun.log").read_text(errors="replace").strip().splitlines()
    return re.sub(r"\x1b\[[0-9;]*m", "", lines[-1]) if lines else "no output"


def _run_until_stopped(proc, home: Path) -> None:
    """Wait for the viewer; SIGINT/SIGTERM stop it (a second signal kills it).

    A viewer that fails on its own (no GPU, display refused) is a one-line error.
    """
    signals = []

    def stop(signum, frame):
        # Only signal here: waiting inside the handler would deadlock on Popen's wait lock.
        signals.append(signum)
        if proc.poll() is None:
            proc.kill() if len(signals) > 1 else proc.terminate()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if proc.returncode != 0 and not signals:
        raise _fail(f"the viewer stopped (exit {proc.returncode}): {_last_log_line(home)}", 1)


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ viewer processes
def rerun_binary() -> Path:
    """The ``rerun`` executable shipped in the rerun-sdk wheel (viewer, web viewer, rrd tools)."""
    import rerun_cli

    return Path(os.environ.get("RERUN_CLI_PATH") or Path(rerun_cli.__file__).parent / "rerun")


def rerun_env(home: str | os.PathLike) -> dict[str, str]:
    """Environment for a ``rerun`` process with usage analytics off and no first-run banner.

    Rerun keeps its analytics switch in ``$XDG_CONFIG_HOME/rerun/analytics.json``;
    pointing the child at a private config folder that says "disabled" turns
    analytics off without touching the user's own Rerun settings.
    """
    home = Path(home)
    config = home / "config" / "rerun" / "analytics.json"
    if not config.exists():
        config.parent.mkdir(parents=True, exist_ok=True)
        settings = {
            "analytics_enabled": False,
            "analytics_id": "",
            "metadata": {},
            "config_file_path": str(config),
            "data_dir_path": str(home / "data" / "rerun" / "analytics"),
        }
        with atomic_path(config) as tmp:
            tmp.write_text(json.dumps(settings))
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }


def has_display() -> bool:
    """macOS and Windows always have one; elsewhere an X11 or Wayland display must be set."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def web_url(web_port: int, grpc_port: int) -> str:
    return f"http://127.0.0.1:{web_port}/?url=rerun%2Bhttp%3A%2F%2F127.0.0.1%3A{grpc_port}%2Fproxy"


def start_web_viewer(rrd: Path, web_port: int, grpc_port: int, home: Path) -> subprocess.Popen:
    """Serve ``rrd`` and the wheel's web viewer on 127.0.0.1 (returns the server process)."""
    cmd = [
        str(rerun_binary()), str(rrd), "--serve-web", "--bind", "127.0.0.1",
        "--web-viewer-port", str(web_port), "--port", str(grpc_port),
    ]  # fmt: skip
    with open(home / "rerun.log", "w") as log:
        return subprocess.Popen(cmd, env=rerun_env(home), stdout=log, stderr=subprocess.STDOUT)


def start_native_viewer(rrd: Path, home: Path) -> subprocess.Popen:
    """Open ``rrd`` in the native viewer window."""
    with open(home / "rerun.log", "w") as log:
        return subprocess.Popen(
            # default viewer port: a viewer already open there receives the recording
            [str(rerun_binary()), str(rrd), "--bind", "127.0.0.1"],
            env=rerun_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def register(app: typer.Typer) -> None:
    app.command("view")(view_cmd)
