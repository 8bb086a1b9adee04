"""CLI command groups; each module defines ``register(app)``.

``fourreal.cli`` imports every module listed in ``COMMAND_MODULES``.
"""

COMMAND_MODULES = [
    "fourreal.commands.render",
    "fourreal.commands.catalog",
    "fourreal.commands.generate",
    "fourreal.commands.deploy",
    "fourreal.commands.pseudo4d",
    "fourreal.commands.sample",
    "fourreal.commands.curate",
    "fourreal.commands.train",
    "fourreal.commands.runs",
    "fourreal.commands.demo",
    "fourreal.commands.build",
    "fourreal.commands.view",
]
