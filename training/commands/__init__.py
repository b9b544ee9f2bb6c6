"""Training subcommands of the `distilled-datasets` CLI.

The runtime CLI (distilled_datasets/cli.py) imports this module lazily and calls ``register``.
Each command lives in its own module exposing ``register(subparsers)``. Only the command that runs
is registered in full (its module imported, with its configs); the others get a one-line stub,
so `distilled-datasets --help` imports neither torch nor any training code beyond this file.
"""

from __future__ import annotations

import importlib
from typing import Optional

# command -> (module, one-line help), in the order they appear in --help. The modules use these
# lines too (HELP), so a stub and the full parser always say the same.
COMMANDS = {
    "train": ("cli_train", "train a generator with global-local generative distillation"),
    "distill-latents": ("cli_latents", "learn the latent codes a generator turns into its distilled set"),
    "join-sets": ("cli_latents", "join learned sets (one distill-latents run per seed) into one generator whose seed s "
                                 "gives set s"),
    "select": ("cli_select", "attach a selector (keep 1 in M synthesized images) or truncate the noise"),
    "evaluate": ("cli_evaluate", "train a classifier on a distilled set (or a baseline) and test it on the real test "
                                 "split"),
    "merge-evaluations": ("cli_merge", "join evaluation JSONs measured as parts (evaluate --run-indices) into one"),
    "publish": ("cli_publish", "push a trained generator (with its model card and measured accuracy) to the Hub"),
    "distill-wang": ("cli_wang", "Wang et al. 2018: learn pixels and step sizes (bi-level)"),
    "wang-pretrain": ("cli_wang", "train classifiers on real data (a pool for distill-wang)"),
}
HELP = {name: text for name, (_, text) in COMMANDS.items()}


def register(subparsers, command: Optional[str] = None) -> None:
    """Register ``command`` in full and every other training command as a stub (help only)."""
    full = COMMANDS[command][0] if command in COMMANDS else None
    if full is not None:
        importlib.import_module(f"{__package__}.{full}").register(subparsers)
    for name, (module, text) in COMMANDS.items():
        if module != full:
            subparsers.add_parser(name, help=text)
