"""``fourreal up`` / ``fourreal down`` / ``fourreal status``: the local Prefect stack."""

from __future__ import annotations

import json

import typer
from rich.console import Console

console = Console()


def up(
    port: int = typer.Option(4200, help="Server port (UI at http://127.0.0.1:PORT)"),
    host: str = typer.Option("127.0.0.1", help="Loopback address to bind"),
    cpu_workers: int = typer.Option(1, min=0, help="Process workers polling the cpu pool"),
    gpu_workers: int = typer.Option(1, min=0, help="Process workers polling the gpu pool"),
    deploy: bool = typer.Option(True, help="Run `prefect --no-prompt deploy --all`"),
    poll_seconds: float = typer.Option(10.0, min=0.5, help="Worker poll interval"),
    demo_corpus: bool = typer.Option(
        False, help="Write the synthetic demo videos for the */demo deployments"
    ),
) -> None:
    """Start a Prefect server, work pools, deployments and workers (all local)."""
    from fourreal.stack.server import StackConfig
    from fourreal.stack.server import up as stack_up

    try:
        cfg = StackConfig(
            host=host,
            port=port,
            workers={"cpu": cpu_workers, "gpu": gpu_workers},
            deploy=deploy,
            poll_seconds=poll_seconds,
            demo_corpus=demo_corpus,
        )
        state = stack_up(cfg, log=console.print)
    except (ValueError, RuntimeError, TimeoutError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    console.print(
        f"[green]up[/green]: open {state.ui_url} ; for the prefect CLI: "
        f"export PREFECT_API_URL={state.api_url}"
    )


def down(
    grace: float = typer.Option(20.0, min=0.0, help="Seconds before SIGKILL"),
) -> None:
    """Stop exactly the processes `fourreal up` started (by pid and start time)."""
    from fourreal.stack.server import down as stack_down

    stack_down(grace=grace, log=console.print)


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Show the local stack: URLs, processes, API health."""
    from fourreal.stack.server import status as stack_status

    st = stack_status()
    if as_json:
        print(json.dumps(st, indent=2))
        return
    if not st["running"]:
        console.print(f"not running (state file {st['state_file']})")
        return
    health = "[green]healthy[/green]" if st["api_healthy"] else "[red]not answering[/red]"
    console.print(f"UI {st['ui_url']}  API {st['api_url']} {health}")
    for p in st["processes"]:
        mark = "[green]running[/green]" if p["running"] else "[red]gone[/red]"
        console.print(f"  {p['name']:<16} pid {p['pid']:<8} {mark}  {p['log']}")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
