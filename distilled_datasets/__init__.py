"""distilled-datasets: distilled MNIST, Fashion-MNIST and CIFAR-10 as torchvision datasets."""

from ._version import __version__
from .architectures import list_architectures, register_architecture
from .config import GeneratorConfig, SamplingConfig
from .datasets import DistilledCIFAR10, DistilledDataset, DistilledFashionMNIST, DistilledImageFolder, DistilledMNIST
from .errors import DistilledDatasetsError, GeneratorNotFoundError, InvalidGeneratorError, UsageError
from .generator import Generator
from .repository import push_to_hub, save_repository

__all__ = [
    "__version__",
    "DistilledDataset",
    "DistilledMNIST",
    "DistilledFashionMNIST",
    "DistilledCIFAR10",
    "DistilledImageFolder",
    "Generator",
    "GeneratorConfig",
    "SamplingConfig",
    "DistilledDatasetsError",
    "UsageError",
    "GeneratorNotFoundError",
    "InvalidGeneratorError",
    "list_architectures",
    "register_architecture",
    "save_repository",
    "push_to_hub",
]
