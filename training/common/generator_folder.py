"""Writing a generator's repository folder (what select, join-sets and publish produce).

Built beside the destination and moved into place, so that a failure leaves nothing half
written; an existing folder is replaced only with ``overwrite`` and only if it holds nothing but
a generator's own files.
"""

from __future__ import annotations

from pathlib import Path

from distilled_datasets import Generator
from distilled_datasets.files import (check_output, discard, move_into_place, remove_stale_temporaries, temp_sibling,
                                     writing)
from distilled_datasets.repository import save_repository

GENERATOR_FILES = {"config.json", "model.safetensors", "README.md", "samples.png"}


def is_generator_folder(folder: Path) -> bool:
    """Only a generator's files (what select and publish write), nothing else."""
    return {p.name for p in folder.iterdir()} <= GENERATOR_FILES


def check_folder_out(out, overwrite: bool, inputs=()) -> None:
    """Before any work: ``out`` may receive a generator folder (see files.check_output)."""
    remove_stale_temporaries(Path(out).parent, name=Path(out).name)  # what a killed writer of this OUT left
    check_output(out, overwrite=overwrite, want_dir=True, inputs=inputs, own_kind=is_generator_folder,
                 kind_name="generator folder (config.json, model.safetensors, README.md, samples.png)")


def write_folder(generator: Generator, out, overwrite: bool = False, inputs=()) -> Path:
    """Write ``generator``'s repository folder to ``out`` (see the module docstring)."""
    out = Path(out)
    check_folder_out(out, overwrite, inputs)
    tmp = temp_sibling(out, "incoming")
    try:
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            save_repository(generator, tmp)
            move_into_place(tmp, out, overwrite=overwrite)
    finally:
        discard(tmp)
    return out
