"""``Generator``: a label-conditioned image generator that is a distilled dataset.

It travels as a folder (or Hub repository) of ``config.json`` + ``model.safetensors`` +
``README.md`` (model card); see ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ._version import __version__
from .architectures import build_architecture
from .config import (CARD_NAME, CONFIG_NAME, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_NAME, GeneratorConfig,
                     SamplingConfig, read_config_file, write_json_atomic)
from .errors import InvalidGeneratorError
from .hub import ResolvedFiles, resolve
from .herding import FeatureNet

SELECTOR_PREFIX = "selector."

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


class Generator(nn.Module):
    """(noise [B, noise_dim], labels [B]) -> images [B, C, H, W] in [-1, 1].

    ``metadata`` carries what config.json says beyond the architecture: ``dataset``, ``classes``,
    ``normalization``, ``training`` (the recipe) and ``metrics`` (measured accuracies).
    """

    def __init__(self, config: GeneratorConfig, metadata: Optional[Dict[str, Any]] = None,
                 sampling: Optional[SamplingConfig] = None):
        super().__init__()
        self.config = config
        self.sampling = sampling or SamplingConfig()
        self.metadata: Dict[str, Any] = dict(metadata or {})
        self.source: Optional[ResolvedFiles] = None  # set when loaded from files
        try:
            self.net = build_architecture(
                config.architecture, noise_dim=config.noise_dim, num_classes=config.num_classes,
                channels=config.channels, image_size=config.image_size, **config.arch_kwargs,
            )
        except (TypeError, ValueError) as exc:  # e.g. an image size the architecture cannot make
            raise InvalidGeneratorError(f"cannot build generator architecture {config.architecture!r} "
                                        f"from config {config.to_dict()}: {exc}") from exc
        # The candidate selector (sampling.candidates > 1) travels in the same weights file under
        # "selector.": it is part of what defines the images.
        self.selector: Optional[FeatureNet] = None
        if self.sampling.candidates > 1:
            self.selector = FeatureNet(config.channels, config.image_size, config.num_classes,
                                       **self.sampling.selector)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(noise, labels)

    def weights_state(self) -> Dict[str, torch.Tensor]:
        """What model.safetensors holds: the network's tensors, then the selector's (prefixed)."""
        state = dict(self.net.state_dict())
        if self.selector is not None:
            state.update({SELECTOR_PREFIX + k: v for k, v in self.selector.state_dict().items()})
        return state

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- serialisation -------------------------------------------------------------------

    def config_dict(self) -> Dict[str, Any]:
        """The full config.json content."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "generator": self.config.to_dict(),
            "sampling": self.sampling.to_dict(),
            "num_parameters": self.num_parameters,
            **self.metadata,
        }

    @classmethod
    def from_config_dict(cls, data: Dict[str, Any]) -> "Generator":
        meta = {k: v for k, v in data.items()
                if k not in ("format", "format_version", "library_version", "generator", "sampling",
                             "num_parameters")}
        if not isinstance(data.get("generator"), dict):
            raise InvalidGeneratorError("config 'generator' section must be an object")
        try:
            sampling = SamplingConfig(**data.get("sampling", {}))
        except TypeError as exc:
            raise InvalidGeneratorError(f"config 'sampling' section is invalid: {exc}") from exc
        return cls(GeneratorConfig.from_dict(data["generator"]), metadata=meta, sampling=sampling)

    @classmethod
    def from_files(cls, files: ResolvedFiles) -> "Generator":
        """Build from a resolved config.json + model.safetensors; keys and shapes load strictly."""
        try:
            model = cls.from_config_dict(read_config_file(files.config_path))
        except InvalidGeneratorError as exc:
            if files.config_path in str(exc):
                raise
            raise InvalidGeneratorError(f"{files.config_path} (from {files.describe()}): {exc}") from exc
        try:
            state = load_file(files.weights_path)
        except (SafetensorError, OSError) as exc:
            if files.source == "hub":
                # The snapshot entry is a link to a blob: deleting only the link would bring the same
                # bad blob back on the next load.
                fix = (f"delete the cached file {os.path.realpath(files.weights_path)} and load again; if it "
                       f"fails again, the file in {files.describe()} itself is damaged: re-upload it "
                       "(Generator.push_to_hub)")
            else:
                fix = "save the generator again (Generator.save_pretrained) or copy the file again"
            raise InvalidGeneratorError(
                f"{files.weights_path} (from {files.describe()}) is not a readable safetensors file ({exc}); "
                f"it may be truncated or damaged: {fix}"
            ) from exc
        # Weights may be stored in float16 to keep repositories small; compute is float32.
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        selector_state = {k[len(SELECTOR_PREFIX):]: v for k, v in state.items() if k.startswith(SELECTOR_PREFIX)}
        state = {k: v for k, v in state.items() if not k.startswith(SELECTOR_PREFIX)}
        try:
            model.net.load_state_dict(state, strict=True)
            if model.selector is not None:
                model.selector.load_state_dict(selector_state, strict=True)
            elif selector_state:
                raise RuntimeError(f"{len(selector_state)} unexpected 'selector.' tensors, but the config's "
                                   "sampling has no candidates > 1")
        except RuntimeError as exc:
            raise InvalidGeneratorError(
                f"{files.weights_path} does not match the architecture in {files.config_path}: {exc}"
            ) from exc
        model.source = files
        return model.eval()

    @classmethod
    def from_pretrained(cls, repo_id_or_dir: PathLike, revision: Optional[str] = None,
                        cache_dir: Optional[PathLike] = None, local_files_only: bool = False) -> "Generator":
        """Load from a local folder or a Hub repository ('org/name', optionally at ``revision``)."""
        files = resolve(repo_id_or_dir, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        logger.info("loading generator from %s", files.describe())
        return cls.from_files(files)

    def save_pretrained(self, save_directory: PathLike, *, half: bool = False, samples: bool = True,
                        repo_id: Optional[str] = None) -> Path:
        """Write config.json, model.safetensors, README.md (model card) and samples.png.

        Each file is written under a temporary name and renamed into place, weights first and
        config last, so an interrupted save never leaves a config that points at half a file.
        ``half`` stores float16 weights (half the size; loading gives float32 again). ``repo_id``
        is the Hub id the model card's usage example names.
        """
        from .model_card import render_card
        from .preview import save_sample_grid

        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in self.weights_state().items()}
        tmp = folder / f".{WEIGHTS_NAME}.tmp-{os.getpid()}"
        save_file(state, str(tmp), metadata={"format": FORMAT_NAME})
        os.replace(tmp, folder / WEIGHTS_NAME)
        if samples:
            save_sample_grid(self, folder / "samples.png")
        card = render_card(self, has_samples=samples, repo_id=repo_id)
        tmp = folder / f".{CARD_NAME}.tmp-{os.getpid()}"
        tmp.write_text(card, encoding="utf-8")
        os.replace(tmp, folder / CARD_NAME)
        write_json_atomic(str(folder / CONFIG_NAME), self.config_dict())
        return folder

    def push_to_hub(self, repo_id: str, *, branch: Optional[str] = None, commit_message: Optional[str] = None,
                    private: Optional[bool] = None, token: Optional[str] = None, create_pr: bool = False,
                    half: bool = False):
        """Create ``repo_id`` if needed and upload config, weights, card and samples in one commit."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch is not None and not create_pr:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, half=half, repo_id=repo_id)
            return api.upload_folder(
                repo_id=repo_id, folder_path=tmp, revision=branch, create_pr=create_pr,
                commit_message=commit_message or f"Upload distilled-datasets generator ({__version__})",
            )
