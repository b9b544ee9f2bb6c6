"""``Generator``: a label-conditioned image generator that is a distilled dataset.

It travels as a folder (or Hub repository) of ``config.json`` + ``model.safetensors`` +
``README.md`` (model card); see ``save_pretrained`` / ``from_pretrained``, and
``distilled_datasets.repository`` for the card, the sample grid and the Hub upload.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch
from safetensors.torch import save_file
from torch import nn

from ._version import __version__
from .architectures import build_architecture
from .config import (
    CONFIG_NAME,
    FORMAT_NAME,
    FORMAT_VERSION_SETS,
    WEIGHTS_NAME,
    GeneratorConfig,
    SamplingConfig,
    check_metadata_types,
    read_config_file,
)
from .errors import InvalidGeneratorError, UnreadableWeightsError
from .files import atomic_write, atomic_write_json
from .herding import FeatureNet
from .hub import ResolvedFiles, resolve
from .weights_file import check_representable, read_weights

SELECTOR_PREFIX = "selector."
# The most weights a config may ask for (1 GiB of float32): checked on the meta device, before allocation.
MAX_WEIGHT_ELEMENTS = 1 << 28
# Activation values alive at once in one forward pass (4 GiB in float32): a small config can still ask
# for a huge pass (4096-image chunks of every class, 1024 x 1024 images), refused before it is run.
MAX_PASS_ELEMENTS = 1 << 30
PROBE_CLASSES = 10  # classes per pass of the load-time probe (check_finite_output)
# The probe makes one image of every class: 10,000 classes of 1024 x 1024 images would take minutes.
MAX_PROBE_ELEMENTS = 1 << 32
LATENTS_KEY = "latents"

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
        self.files: Optional[ResolvedFiles] = None  # where it was loaded from (set when loaded from files)
        self.weights_sha256: Optional[str] = None  # of the file's bytes, set when loaded from files
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
        # Learned latent codes (sampling.latents = K > 0): sample k < K of class c under seed s is
        # generated from latents[s, c, k] instead of seeded noise, for the sampling.latent_sets sets
        # s. They are the distilled sets themselves, optimised through the generator
        # (training/generative/latent_distillation.py): [sets, num_classes, K, noise_dim].
        latents, sets = self.sampling.latents, self.sampling.latent_sets
        if latents and sets * config.num_classes * latents * math.prod(self.code_shape) > MAX_WEIGHT_ELEMENTS:
            # Counted here, in Python: the tensor's size may not even fit in 64 bits.
            raise InvalidGeneratorError(f"sampling asks for {sets} x {config.num_classes} x {latents} codes of shape "
                                        f"{list(self.code_shape)}, more weights than this package loads "
                                        f"({MAX_WEIGHT_ELEMENTS:,})")
        self.register_buffer("latents", torch.zeros(sets, config.num_classes, latents, *self.code_shape)
                             if latents else None)
        self.latents: Optional[torch.Tensor]

    @property
    def code_shape(self) -> Tuple[int, ...]:
        """The shape of one learned code: (noise_dim,), or the feature map at sampling.latent_layer."""
        layer = self.sampling.latent_layer
        if layer == "noise":
            return (self.config.noise_dim,)
        if layer not in getattr(self.net, "CODE_LAYERS", ()):
            raise InvalidGeneratorError(f"sampling latent_layer {layer!r}: architecture {self.config.architecture!r} "
                                        f"has the code layers {list(getattr(self.net, 'CODE_LAYERS', ()))}")
        return tuple(self.net.code_shape(layer))

    def forward(self, noise: torch.Tensor, labels: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        return self.net(noise, labels, channels_last=channels_last)


    def weights_state(self) -> Dict[str, torch.Tensor]:
        """What model.safetensors holds: the network's tensors, the selector's (prefixed) and the
        learned latents."""
        state = dict(self.net.state_dict())
        if self.selector is not None:
            state.update({SELECTOR_PREFIX + k: v for k, v in self.selector.state_dict().items()})
        if self.latents is not None:  # one set: [classes, K, dim], as files were before sets existed
            state[LATENTS_KEY] = self.latents if len(self.latents) > 1 else self.latents[0]
        return state

    def load_weights_state(self, state: Dict[str, torch.Tensor], where: str = "the weights") -> None:
        """Load ``weights_state()``-shaped tensors strictly: every key, shape and kind must match,
        and every float tensor must be finite in the dtype it is computed in (a NaN, an Inf or a
        float64 value beyond float32's range gives black images silently)."""
        expected = self.weights_state()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unexpected:
            raise InvalidGeneratorError(f"{where} do not match the architecture: missing keys {missing[:8]}, "
                                        f"unexpected keys {unexpected[:8]}")
        cast = {}
        for key, value in state.items():
            want = expected[key]
            if tuple(value.shape) != tuple(want.shape):
                raise InvalidGeneratorError(f"{where}: {key} has shape {list(value.shape)}, the architecture "
                                            f"needs {list(want.shape)}")
            if want.is_floating_point() != value.is_floating_point() or value.dtype == torch.bool:
                raise InvalidGeneratorError(f"{where}: {key} is {value.dtype}, the architecture needs {want.dtype}")
            cast[key] = check_representable(key, value, want.dtype, where)
        with torch.no_grad():
            for key, value in cast.items():
                expected[key].copy_(value)

    def expected_tensors(self) -> Dict[str, Tuple[Tuple[int, ...], bool]]:
        """{name: (shape, is float)} of what model.safetensors must hold for this config."""
        return {k: (tuple(v.shape), v.is_floating_point()) for k, v in self.weights_state().items()}

    # Metadata that describes these exact images (measured accuracies, "ships with the package",
    # free notes), and so no longer holds for a generator derived from this one.
    DERIVED_DROPS = ("metrics", "package_default", "notes")

    def derive(self, sampling: SamplingConfig, **metadata: Any) -> "Generator":
        """A new generator with ``sampling`` (a whole config, e.g. ``dataclasses.replace(g.sampling,
        noise_scale=0.7)``) and every weight that still applies carried over: the network always, the
        learned codes when ``sampling.latents`` keeps their number, the selector when the selection
        keeps its architecture (else it starts fresh, to be loaded by the caller). The metadata that
        described the old images is dropped (DERIVED_DROPS, and a record of how images were selected
        once learned codes choose them); ``metadata`` adds keys."""
        drops = self.DERIVED_DROPS + (("selection",) if sampling.latents else ())  # learned codes pick the images
        kept = {k: v for k, v in self.metadata.items() if k not in drops}
        out = Generator(self.config, metadata={**kept, **metadata}, sampling=sampling)
        out.net.load_state_dict(self.net.state_dict())
        if out.latents is not None and self.latents is not None and out.latents.shape == self.latents.shape:
            out.latents.copy_(self.latents)
        if out.selector is not None and self.selector is not None and sampling.selector == self.sampling.selector:
            out.selector.load_state_dict(self.selector.state_dict())
        return out.eval()

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- serialisation -------------------------------------------------------------------

    def config_dict(self) -> Dict[str, Any]:
        """The full config.json content."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION_SETS if self.sampling.needs_version_2 else 1,
            "library_version": __version__,
            "generator": self.config.to_dict(),
            "sampling": self.sampling.to_dict(),
            "num_parameters": self.num_parameters,
            **self.metadata,
        }

    @classmethod
    def from_config_dict(cls, data: Dict[str, Any]) -> "Generator":
        # "package_default" marks the installed folder the package ships, not the generator: dropped on
        # load, so a copy saved elsewhere never has a card saying it ships with the package (publishing
        # the defaults sets it again, PublishOptions.package_default).
        meta = {k: v for k, v in data.items()
                if k not in ("format", "format_version", "library_version", "generator", "sampling",
                             "num_parameters")}
        if not isinstance(data.get("generator"), dict):
            raise InvalidGeneratorError("config 'generator' section must be an object")
        if not isinstance(data.get("sampling", {}), dict):
            raise InvalidGeneratorError("config 'sampling' section must be an object")
        try:
            sampling = SamplingConfig(**data.get("sampling", {}))
        except TypeError as exc:
            raise InvalidGeneratorError(f"config 'sampling' section is invalid: {exc}") from exc
        check_metadata_types(meta)
        meta.pop("package_default", None)  # checked, then dropped (see above)
        return cls(GeneratorConfig.from_dict(data["generator"]), metadata=meta, sampling=sampling)

    @classmethod
    def from_files(cls, files: ResolvedFiles, config_data: Optional[Dict[str, Any]] = None) -> "Generator":
        """Build from a resolved config.json + model.safetensors; keys and shapes load strictly.

        The config is checked first and its network built on the meta device (no memory), so a
        config asking for more than MAX_WEIGHT_ELEMENTS, or a weights file whose header declares
        other tensors than the config's, is refused before anything is allocated. ``config_data``: the
        config.json already read by the caller (read_config_file), so that it is parsed once per load."""
        try:
            data = config_data if config_data is not None else read_config_file(files.config_path)
            with torch.device("meta"):
                shape_only = cls.from_config_dict(data)
            elements = sum(v.numel() for v in shape_only.weights_state().values())
            if elements > MAX_WEIGHT_ELEMENTS:
                raise InvalidGeneratorError(f"the config asks for {elements:,} weights, more than this package loads "
                                            f"({MAX_WEIGHT_ELEMENTS:,})")
            shape_only.check_pass_size()
            model = cls.from_config_dict(data)
        except InvalidGeneratorError as exc:
            if files.config_path in str(exc):
                raise
            raise InvalidGeneratorError(f"{files.config_path} (from {files.describe()}): {exc}") from exc
        try:
            read = read_weights(files.weights_path, model.expected_tensors(),
                                where=f"{files.weights_path} (architecture from {files.config_path})")
        except UnreadableWeightsError as exc:
            if files.origin == "hub":
                # The snapshot entry is a link to a blob: deleting only the link would bring the same
                # bad blob back on the next load.
                fix = (f"delete the cached file {os.path.realpath(files.weights_path)} and load again; if it "
                       f"fails again, the file in {files.describe()} itself is damaged: re-upload it "
                       "(distilled_datasets.push_to_hub)")
            else:
                fix = "save the generator again (Generator.save_pretrained) or copy the file again"
            raise UnreadableWeightsError(f"{exc} (from {files.describe()}): {fix}") from exc
        # Weights may be stored in float16 to keep repositories small; compute is float32.
        model.load_weights_state(read.tensors, where=f"{files.weights_path} (architecture from {files.config_path})")
        model.files = files
        model.weights_sha256 = read.sha256  # of the bytes loaded: what the image cache keys on
        model.eval()
        model.check_finite_output(f"{files.weights_path} (from {files.describe()})")
        return model

    def images_per_pass(self) -> int:
        """The most images one forward pass makes: a synthesis chunk (every class's at once in the
        class_rows layout), or the load-time probe's one image per class."""
        s = self.sampling
        chunk = s.chunk_size * s.candidates * (self.config.num_classes if s.layout == "class_rows" else 1)
        return max(chunk, min(self.config.num_classes, PROBE_CLASSES))

    def check_pass_size(self) -> None:
        """Refuse a config whose forward pass needs more than MAX_PASS_ELEMENTS activation values at once
        (the largest input plus output of a layer, as inference keeps them), measured in one pass of one
        image in eval mode (on the meta device when loading: no memory, no arithmetic)."""
        sizes: list = []

        def record(module, inputs, output):
            if isinstance(output, torch.Tensor):
                sizes.append(sum(i.numel() for i in inputs if isinstance(i, torch.Tensor)) + output.numel())

        hooks = [m.register_forward_hook(record) for m in self.net.modules() if not list(m.children())]
        device, training = next(self.net.parameters()).device, self.net.training  # meta: nothing is computed
        self.net.eval()
        try:
            with torch.no_grad():
                self.net(torch.zeros(1, self.config.noise_dim, device=device), torch.zeros(1, dtype=torch.long,
                                                                                             device=device))
        except (RuntimeError, ValueError) as exc:
            raise InvalidGeneratorError(f"the generator of this config cannot make one image ({exc})") from None
        finally:
            self.net.train(training)
            for hook in hooks:
                hook.remove()
        peak = max(sizes, default=0)
        if peak * self.config.num_classes > MAX_PROBE_ELEMENTS:
            c = self.config
            raise InvalidGeneratorError(
                f"{c.num_classes} classes of {c.channels} x {c.image_size} x {c.image_size} images need "
                f"{peak * c.num_classes:,} activation values to check one image of each, more than this package "
                f"works through when it loads a generator ({MAX_PROBE_ELEMENTS:,}); fewer classes or smaller "
                "images fit")
        needed = peak * self.images_per_pass()
        if needed > MAX_PASS_ELEMENTS:
            c = self.config
            raise InvalidGeneratorError(
                f"one forward pass of this config ({self.images_per_pass()} images of {c.channels} x {c.image_size} x "
                f"{c.image_size}, sampling {self.sampling.to_dict()}) needs {needed:,} activation values, more "
                f"than this package computes at once ({MAX_PASS_ELEMENTS:,}); a smaller sampling chunk_size, "
                "the per_class layout or a smaller image size fits")

    @torch.inference_mode()
    def check_finite_output(self, where: str) -> None:
        """Refuse weights whose arithmetic overflows float32: finite but huge values (1e30) make Inf
        or NaN activations, which tanh turns into flat white or black images. One probe pass of one
        image per class (zero noise) with every layer's output checked: a few milliseconds."""
        bad: list = []

        def check(module, inputs, output, name=""):
            if isinstance(output, torch.Tensor) and not bad and not bool(torch.isfinite(output).all()):
                bad.append(name)

        hooks = [m.register_forward_hook(lambda m, i, o, name=name: check(m, i, o, name))
                 for name, m in self.net.named_modules() if not list(m.children())]
        try:
            for first in range(0, self.config.num_classes, PROBE_CLASSES):  # a bounded pass, however many classes
                classes = torch.arange(first, min(first + PROBE_CLASSES, self.config.num_classes))
                self.net(torch.zeros(len(classes), self.config.noise_dim), classes)
                if bad:
                    break
        finally:
            for hook in hooks:
                hook.remove()
        if bad:
            raise InvalidGeneratorError(f"{where}: the weights overflow float32 arithmetic (non-finite output of "
                                        f"layer {bad[0]!r}), so the images would be flat; the weights are damaged "
                                        "or were not saved by this package")

    @classmethod
    def from_pretrained(cls, repo_id_or_dir: PathLike, revision: Optional[str] = None,
                        cache_dir: Optional[PathLike] = None, local_files_only: bool = False) -> "Generator":
        """Load from a local folder or a Hub repository ('org/name', optionally at ``revision``)."""
        files = resolve(repo_id_or_dir, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        logger.info("loading generator from %s", files.describe())
        return cls.from_files(files)

    def save_pretrained(self, save_directory: PathLike, *, half: bool = False,
                        extra_files: Optional[Dict[str, Callable[[str], Any]]] = None) -> Path:
        """Write model.safetensors and config.json (plus ``extra_files``: name -> writer(path)).

        Each file is written atomically (files.py), the extra files and the weights first and the
        config last, so an interrupted save never leaves a config that points at half a file.
        ``half`` stores float16 weights (half the size; loading gives float32 again). The model
        card and samples.png are extra files: see ``distilled_datasets.repository``.
        """
        self.check_pass_size()  # what from_pretrained would refuse is never written
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in self.weights_state().items()}
        for name, writer in (extra_files or {}).items():
            atomic_write(folder / name, writer)
        atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT_NAME}))
        atomic_write_json(folder / CONFIG_NAME, self.config_dict())
        return folder
