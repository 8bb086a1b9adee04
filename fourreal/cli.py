"""The ``fourreal`` command line."""

from __future__ import annotations

import importlib

import typer

from core.env import configure_environment
from core.reaper import install_reaper
from fourreal.commands import COMMAND_MODULES

configure_environment()

app = typer.Typer(
    help="fourreal: 4D video diffusion pipeline (datasets, catalog, training, generation).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """Helpers this process starts (a temporary Prefect server, a local Ray) die with it."""
    install_reaper()


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


if __name__ == "__main__":
    app()
