"""The generator's architecture config and the metadata that travels with it in config.json."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from .architectures import ARCHITECTURE_DEFAULTS, list_architectures
from .errors import InvalidGeneratorError
from .files import parse_json_text
from .herding import SELECTION_METHODS, SELECTOR_DEFAULTS
from .validation import check_known_keys

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
SAMPLES_NAME = "samples.png"
FORMAT_NAME = "distilled-datasets/generator"
FORMAT_VERSION = 2  # the newest generator format this library reads; a file says the oldest that reads it
# The newest version of each format read here (stored images: learned_images.IMAGES_FORMAT_VERSION).
NEWEST_READABLE = {FORMAT_NAME: FORMAT_VERSION, "distilled-datasets/images": 1}
FORMAT_VERSION_SETS = 2  # several learned sets, or codes in a feature map: version 1 readers cannot read them

# Fixed synthesis batch: every image is produced in a batch of exactly this shape, so its bytes
# never depend on how many images were asked for. Stored in each config.json so that a
# published repository keeps its images even if the library's default changes.
DEFAULT_CHUNK_SIZE = 16
LAYOUTS = ("per_class", "class_rows")  # SamplingConfig.layout
LATENT_LAYERS = ("noise", "stem", "up1")  # SamplingConfig.latent_layer: the input, or a feature map

# Upper bounds of every size a config may ask for: a config is data from a file or the Hub, and a
# huge value must be a clear error, not an attempt to allocate it.
LIMITS = {"noise_dim": 4096, "num_classes": 10000, "channels": 4, "image_size": 1024, "arch_size": 4096,
          "chunk_size": 4096, "candidates": 64, "latents": 100000, "latent_sets": 1000, "noise_scale": 100.0}


def _check_size(what: str, value: Any, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidGeneratorError(f"{what} must be an int in 1..{limit}, got {value!r}")


@dataclass
class GeneratorConfig:
    """What is needed to rebuild the network: architecture name and its arguments.

    ``arch_kwargs`` holds the architecture's own arguments (e.g. ``width``); missing ones take the
    registered defaults, so configs stay valid when an architecture gains an option.
    """

    architecture: str = "small"
    noise_dim: int = 100
    num_classes: int = 10
    channels: int = 1
    image_size: int = 28
    arch_kwargs: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.architecture not in list_architectures():
            raise InvalidGeneratorError(
                f"unknown generator architecture {self.architecture!r}; valid values: {list_architectures()}"
            )
        for name in ("noise_dim", "num_classes", "channels", "image_size"):
            _check_size(f"generator config {name}", getattr(self, name), LIMITS[name])
        if not isinstance(self.arch_kwargs, dict):
            raise InvalidGeneratorError(
                f"generator config arch_kwargs must be an object of architecture arguments, got {self.arch_kwargs!r}"
            )
        defaults = ARCHITECTURE_DEFAULTS[self.architecture]
        unknown = sorted(set(self.arch_kwargs) - set(defaults))
        if unknown:
            raise InvalidGeneratorError(
                f"generator config arch_kwargs has unknown keys {unknown} for architecture {self.architecture!r}; "
                f"valid keys: {sorted(defaults)}"
            )
        for name, value in self.arch_kwargs.items():
            # Every registered argument is a size; its default tells the expected type.
            if isinstance(defaults[name], int):
                _check_size(f"generator config arch_kwargs[{name!r}]", value, LIMITS["arch_size"])
        self.arch_kwargs = {**defaults, **self.arch_kwargs}

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "GeneratorConfig":
        check_known_keys(data, [f.name for f in dataclasses.fields(cls)], "generator config", InvalidGeneratorError)
        return cls(**data)


@dataclass
class SamplingConfig:
    """How noise is drawn at deployment. Part of the published format: changing it changes images."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    # Multiplies the standard normal noise; < 1 trades diversity for typical images.
    noise_scale: float = 1.0
    # Images synthesized per image kept: > 1 keeps some of the chunk's candidates by `selection`
    # in the shipped selector's feature space (distilled_datasets/herding.py).
    candidates: int = 1
    # The selector's architecture arguments (width, feature_dim); required when candidates > 1.
    selector: Optional[Dict[str, int]] = None
    # How candidates are kept: "herding", "kcenter" or "mix" (herding.select).
    selection: str = "herding"
    # Learned latent codes per class shipped in the weights (0: none): sample k < latents of a
    # class comes from its learned code (of the seed's set, see latent_sets); later samples from seeded noise.
    latents: int = 0
    # Learned sets shipped (with latents > 0): seed s < latent_sets takes its codes from set s, so
    # each of those seeds is its own distilled set; a seed beyond them gets seeded noise only.
    latent_sets: int = 1
    # Where the learned codes enter the generator: "noise" (in place of the input noise) or a
    # feature map of its architecture ("stem", "up1": more numbers per image, more expressive).
    latent_layer: str = "noise"
    # How chunks are batched (synthesis.py): "per_class", one forward pass per chunk of one class
    # (the original layout, the default of a freshly trained generator); "class_rows", chunk j of every
    # class in one channels-last forward pass of num_classes * chunk_size images (fewer, larger
    # batches: what the shipped defaults use).
    layout: str = "per_class"

    def __post_init__(self):
        _check_size("sampling chunk_size", self.chunk_size, LIMITS["chunk_size"])
        if isinstance(self.noise_scale, bool) or not isinstance(self.noise_scale, (int, float)) \
                or not 0 < self.noise_scale <= LIMITS["noise_scale"]:
            raise InvalidGeneratorError(f"sampling noise_scale must be a number in (0, {LIMITS['noise_scale']}], "
                                        f"got {self.noise_scale!r}")
        _check_size("sampling candidates", self.candidates, LIMITS["candidates"])
        if self.candidates > 1:
            if not isinstance(self.selector, dict):
                raise InvalidGeneratorError("sampling candidates > 1 needs a 'selector' object "
                                            f"(keys {sorted(SELECTOR_DEFAULTS)}), got {self.selector!r}")
            unknown = sorted(set(self.selector) - set(SELECTOR_DEFAULTS))
            if unknown:
                raise InvalidGeneratorError(f"sampling selector {self.selector!r}: keys must be among "
                                            f"{sorted(SELECTOR_DEFAULTS)}")
            for key, value in self.selector.items():
                _check_size(f"sampling selector[{key!r}]", value, LIMITS["arch_size"])
            self.selector = {**SELECTOR_DEFAULTS, **self.selector}
        elif self.selector is not None:
            raise InvalidGeneratorError("sampling selector is set but candidates is 1: nothing would be selected")
        if self.selection not in SELECTION_METHODS:
            raise InvalidGeneratorError(f"sampling selection must be one of {SELECTION_METHODS}, "
                                        f"got {self.selection!r}")
        if self.latents != 0:
            _check_size("sampling latents", self.latents, LIMITS["latents"])
        _check_size("sampling latent_sets", self.latent_sets, LIMITS["latent_sets"])
        if self.latent_sets > 1:
            if not self.latents:
                raise InvalidGeneratorError("sampling latent_sets needs learned latents (sampling latents > 0)")
        if self.latent_layer not in LATENT_LAYERS:
            raise InvalidGeneratorError(
                f"sampling latent_layer must be one of {LATENT_LAYERS}, got {self.latent_layer!r}")
        if self.latent_layer != "noise" and not self.latents:
            raise InvalidGeneratorError("sampling latent_layer needs learned latents (sampling latents > 0)")
        if self.layout not in LAYOUTS:
            raise InvalidGeneratorError(f"sampling layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.latents and self.candidates > 1:
            raise InvalidGeneratorError("sampling latents and candidates > 1 do not combine: learned latents are "
                                        "already the selected set")

    @property
    def needs_version_2(self) -> bool:
        """Whether a file of this sampling must say format_version 2 (older readers would misread it)."""
        return self.latent_sets > 1 or self.latent_layer != "noise"

    def to_dict(self) -> Dict[str, Any]:
        """config.json's "sampling" section; selection keys only when selection is on."""
        data: Dict[str, Any] = {"chunk_size": self.chunk_size, "noise_scale": self.noise_scale}
        if self.candidates > 1:
            data.update(candidates=self.candidates, selector=dict(self.selector))
            if self.selection != "herding":  # herding: the original format, written as it was
                data["selection"] = self.selection
        if self.latents:
            data["latents"] = self.latents
        if self.latent_sets > 1:  # one set: written as before sets existed
            data["latent_sets"] = self.latent_sets
        if self.latent_layer != "noise":
            data["latent_layer"] = self.latent_layer
        if self.layout != "per_class":  # the original layout is written as it was
            data["layout"] = self.layout
        return data


MAX_CONFIG_BYTES = 1 << 20  # a config is a few kB; a larger file is not one


def parse_bounded_json(path: str) -> Any:
    """A JSON file from a user or the Hub, parsed within bounds: at most MAX_CONFIG_BYTES, UTF-8,
    integers of at most 20 digits (files.parse_json_text), no NaN/Infinity, nesting within Python's recursion
    limit. Anything else is an InvalidGeneratorError that names the file."""
    try:
        size = os.path.getsize(path)
        if size > MAX_CONFIG_BYTES:
            raise InvalidGeneratorError(f"{path} is {size:,} bytes, more than a config ({MAX_CONFIG_BYTES:,}); "
                                        "it is not a distilled-datasets config")
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        return parse_json_text(text)
    except UnicodeDecodeError as exc:
        raise InvalidGeneratorError(f"{path} is not UTF-8 text ({exc}); re-download or re-save the generator") from None
    except RecursionError:
        raise InvalidGeneratorError(f"{path} is nested too deeply to be a config") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError, as are the bounds above
        raise InvalidGeneratorError(f"{path} is not valid JSON ({exc}); re-download or re-save the generator") from None
    except FileNotFoundError:
        raise
    except OSError as exc:  # no permission, an I/O error, a folder by that name
        raise InvalidGeneratorError(f"{path} cannot be read ({exc.strerror or exc}); check its permissions, or "
                                    "re-download or re-save the generator") from None


def read_config_file(path: str, formats: Tuple[str, ...] = (FORMAT_NAME,)) -> Dict[str, Any]:
    """Read and check the top level of a config.json (JSON only: never pickle).

    ``formats``: the "format" values the caller reads (a config without one is a generator's).
    """
    data = parse_bounded_json(path)
    if not isinstance(data, dict):
        raise InvalidGeneratorError(f"{path} has no 'generator' section: it is not a distilled-datasets config")
    fmt = data.get("format", FORMAT_NAME)
    if fmt not in formats:
        hint = (" (learned images load through the dataset classes: DistilledMNIST(repo_id=...))"
                if fmt == "distilled-datasets/images" else "")
        readable = " or ".join(map(repr, formats))
        raise InvalidGeneratorError(f"{path} has format {fmt!r}; this loader reads {readable}{hint}")
    if fmt == FORMAT_NAME and "generator" not in data:
        raise InvalidGeneratorError(f"{path} has no 'generator' section: it is not a distilled-datasets config")
    newest = NEWEST_READABLE.get(fmt, 1)
    version = data.get("format_version", newest)
    if not isinstance(version, int) or version > newest:
        raise InvalidGeneratorError(
            f"{path} has format_version {version!r}, newer than this library reads ({newest}); "
            "upgrade distilled-datasets"
        )
    return data


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and abs(value) != float("inf")


def check_metadata_types(meta: Dict[str, Any]) -> None:
    """The config keys the package reads beyond the architecture, checked field by field (a config
    is data from a file or the Hub: a wrong type must be a clear error, not a crash later)."""
    def fail(key: str, wanted: str) -> None:
        raise InvalidGeneratorError(f"config {key!r} must be {wanted}, got {meta[key]!r:.80}")

    if "dataset" in meta and not (meta["dataset"] is None or isinstance(meta["dataset"], str)):
        fail("dataset", "a dataset name")
    if "classes" in meta and meta["classes"] is not None and not (
            isinstance(meta["classes"], list) and all(isinstance(c, str) for c in meta["classes"])):
        fail("classes", "a list of class names")
    if "normalization" in meta and meta["normalization"] is not None:
        norm = meta["normalization"]
        if not (isinstance(norm, dict) and all(
                isinstance(norm.get(k), list) and norm[k] and all(is_number(v) for v in norm[k])
                for k in ("mean", "std")) and all(v > 0 for v in norm["std"])):
            fail("normalization", "{'mean': [numbers], 'std': [positive numbers]}")
    for key, kind, wanted in (("training", dict, "an object"), ("metrics", list, "a list of result rows"),
                              ("package_default", bool, "true or false")):
        if key in meta and meta[key] is not None and not isinstance(meta[key], kind):
            fail(key, wanted)
    if isinstance(meta.get("metrics"), list) and not all(_metric_row(row) for row in meta["metrics"]):
        fail("metrics", "a list of result rows (objects with a numeric 'mean' and, if given, 'std')")


def _metric_row(row: Any) -> bool:
    """A row the model card and `info` can print: a number for its mean (and std, where given)."""
    return (isinstance(row, dict) and is_number(row.get("mean"))
            and (row.get("std") is None or is_number(row["std"])))
