"""Training subcommands of the `distilled-datasets` CLI.

The runtime CLI (distilled_datasets/cli.py) imports this module lazily and calls ``register``.
Each command lives in its own module exposing ``register(subparsers)``; heavy imports happen
inside the command handlers, so `distilled-datasets --help` stays fast.
"""

from __future__ import annotations

import importlib

# Modules that add subcommands, in the order they appear in --help.
COMMAND_MODULES = ("cli_train", "cli_latents", "cli_select", "cli_evaluate", "cli_merge", "cli_publish", "cli_wang")


def register(subparsers) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue  # a command module that is not written yet
        module.register(subparsers)
