"""distilled-datasets: distilled MNIST, Fashion-MNIST and CIFAR-10 as torchvision datasets.

The public names load on first use (PEP 562), so ``import distilled_datasets`` and the command
line's ``--help`` import neither torch nor anything else they do not use; ``from
distilled_datasets import DistilledMNIST`` imports what the dataset needs.
"""

from importlib import import_module
from typing import Any

from ._version import __version__
from .errors import DistilledDatasetsError, GeneratorNotFoundError, InvalidGeneratorError, UsageError

# public name -> the module that defines it
_LAZY = {
    "DistilledDataset": "datasets", "DistilledMNIST": "datasets", "DistilledFashionMNIST": "datasets",
    "DistilledCIFAR10": "datasets", "DistilledImageFolder": "datasets",
    "Generator": "generator", "GeneratorConfig": "config", "SamplingConfig": "config",
    "list_architectures": "architectures", "register_architecture": "architectures",
    "save_repository": "repository", "push_to_hub": "repository",
}

__all__ = ["__version__", "DistilledDatasetsError", "UsageError", "GeneratorNotFoundError", "InvalidGeneratorError",
           *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # once: later lookups are plain attribute reads
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
