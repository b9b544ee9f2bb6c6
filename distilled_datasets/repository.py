"""A generator's repository: config.json + model.safetensors (the weights), README.md (model
card) and samples.png, written to a folder or uploaded to the Hugging Face Hub in one commit."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional, Union

from ._version import __version__
from .config import CARD_NAME, SAMPLES_NAME
from .files import atomic_write_text
from .generator import Generator
from .model_card import render_card
from .preview import generator_grid

PathLike = Union[str, os.PathLike]


def save_repository(generator: Generator, folder: PathLike, *, half: bool = False, samples: bool = True,
                    repo_id: Optional[str] = None) -> Path:
    """Write the whole repository folder (every file atomically, config.json last).

    ``samples`` draws samples.png (seed 0, one row per class); ``repo_id`` is the Hub id the
    card's usage example names."""
    card = render_card(generator, has_samples=samples, repo_id=repo_id)
    extra = {CARD_NAME: lambda tmp: atomic_write_text(tmp, card)}
    if samples:
        grid = generator_grid(generator)
        extra[SAMPLES_NAME] = lambda tmp: grid.save(tmp, format="PNG")
    return generator.save_pretrained(folder, half=half, extra_files=extra)


def push_to_hub(generator: Generator, repo_id: str, *, branch: Optional[str] = None,
                commit_message: Optional[str] = None, private: Optional[bool] = None, token: Optional[str] = None,
                create_pr: bool = False, half: bool = False):
    """Create ``repo_id`` if needed and upload config, weights, card and samples in one commit."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    if branch is not None and not create_pr:
        api.create_branch(repo_id, branch=branch, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_repository(generator, tmp, half=half, repo_id=repo_id)
        return api.upload_folder(
            repo_id=repo_id, folder_path=tmp, revision=branch, create_pr=create_pr,
            commit_message=commit_message or f"Upload distilled-datasets generator ({__version__})")
