"""Where a distilled dataset's images come from, behind one small interface.

Two kinds of folder (or Hub repository) hold a distilled dataset:

- a generator (config format "distilled-datasets/generator"): ``GeneratorSource`` synthesizes
  sample k of class c lazily, chunk by chunk, from (weights, seed, c, k) alone;
- stored images (format "distilled-datasets/images", e.g. Wang et al. 2018's learned pixels):
  ``StoredImagesSource`` holds a fixed set of images and the schedule they were learned with.

``open_source(files, seed)`` reads the config's format and returns the right one; the dataset
classes, the CLI's preview, info and export, and the evaluation harness only use the interface.
"""

from __future__ import annotations

import abc
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from .config import FORMAT_NAME, read_config_file
from .dataset_info import DatasetInfo
from .errors import InvalidGeneratorError, UsageError
from .generator import Generator
from .hub import ResolvedFiles
from .image_cache import ImageCache
from .learned_images import IMAGES_FORMAT_NAME, LearnedImages
from .synthesis import row_keys, synthesize_chunks

logger = logging.getLogger(__name__)

DEFAULT_GENERATOR_IPC = 10  # what ipc=None means for a generator (torchvision scripts rarely pass it)


def parallelism() -> int:
    """Threads for synthesis: the cores this process may use, or 1 inside a DataLoader worker
    (the workers already share the cores)."""
    if torch.utils.data.get_worker_info() is not None:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)



class ImageSource(abc.ABC):
    """The images of one distilled set: ``image(label, k)`` is sample k of class ``label`` as
    uint8 [H, W] or [H, W, C]. Subclasses say how many exist and where they come from."""

    kind: str = ""

    def __init__(self, files: ResolvedFiles, seed: int):
        self.files, self.seed = files, seed

    @abc.abstractmethod
    def check_fits(self, info: DatasetInfo, owner: str) -> None:
        """Refuse (InvalidGeneratorError) a source made for another dataset or image shape."""

    @abc.abstractmethod
    def resolve_ipc(self, ipc: Optional[int], owner: str) -> int:
        """The images per class a dataset asking for ``ipc`` (None: the source's default) holds."""

    @abc.abstractmethod
    def image(self, label: int, k: int) -> np.ndarray:
        """uint8 sample ``k`` of class ``label``."""

    def materialize(self, ipc: int, num_classes: int, threads: Optional[int] = None) -> None:
        """Make every image of the first ``ipc`` per class ready (no-op for stored images)."""

    @abc.abstractmethod
    def describe(self) -> List[str]:
        """Lines for the dataset's repr."""

    @abc.abstractmethod
    def info(self) -> Dict[str, Any]:
        """A JSON-ready description (``distilled-datasets info``)."""

    def source_record(self) -> Dict[str, Any]:
        return {"kind": self.files.origin, "location": self.files.location, "revision": self.files.revision,
                "config_path": self.files.config_path, "weights_path": self.files.weights_path}


MIN_IMAGES_PER_THREAD = 32
BATCH_IMAGES = 256
PROGRESS_MIN_IMAGES = 5000  # a synthesis that takes seconds shows a tqdm bar (TQDM_DISABLE=1 hides it)


class _NoBar:
    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress(images: int):
    """A tqdm bar over ``images`` for large syntheses; tqdm is imported only then."""
    if images < PROGRESS_MIN_IMAGES:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=images, desc="synthesizing", unit="img", leave=False)


_SAID_NO_LEARNED_SET: set = set()  # generators whose missing set was mentioned in this process
_SAID_ONE_STORED_SET: set = set()  # stored learned images whose ignored seed was mentioned in this process


class GeneratorSource(ImageSource):
    """Images synthesized by a conditional generator; see synthesis.py for the chunk scheme.

    With ``cache_dir``, chunks are read from and written to an ImageCache there (image_cache.py)."""

    kind = "generator"

    def __init__(self, files: ResolvedFiles, seed: int, cache_dir: Optional[str] = None,
                 config_data: Optional[Dict[str, Any]] = None):
        super().__init__(files, seed)
        self._generator: Optional[Generator] = Generator.from_files(files, config_data)
        sampling, config = self.generator.sampling, self.generator.config
        self.chunk_size, self.layout, self.num_classes = sampling.chunk_size, sampling.layout, config.num_classes
        self.chunk_shape = (self.chunk_size, config.image_size, config.image_size) + (
            (config.channels,) if config.channels > 1 else ())
        self.weights_sha256 = self.generator.weights_sha256
        self.cache = None if cache_dir is None else ImageCache(
            cache_dir, self.weights_sha256, {"generator": config.to_dict(), "sampling": sampling.to_dict()})
        self._chunks: Dict[Tuple[int, int], np.ndarray] = {}

    @property
    def generator(self) -> Generator:
        """The loaded generator (reloaded from its files after unpickling in a worker; refused if the
        file no longer holds the weights the dataset was made with)."""
        if self._generator is None:
            generator = Generator.from_files(self.files)
            expected = getattr(self, "weights_sha256", None)
            if expected is not None and generator.weights_sha256 != expected:
                raise InvalidGeneratorError(
                    f"{self.files.weights_path} changed after this dataset was created (SHA-256 {expected[:12]}... "
                    f"then, {generator.weights_sha256[:12]}... now): its images would mix two generators; create "
                    "the dataset again")
            self._generator = generator
        return self._generator

    def check_fits(self, info: DatasetInfo, owner: str) -> None:
        cfg, dataset = self.generator.config, self.generator.metadata.get("dataset")
        wanted = {"num_classes": info.num_classes, "channels": info.channels, "image_size": info.image_size}
        found = {k: getattr(cfg, k) for k in wanted}
        if found != wanted:
            raise InvalidGeneratorError(
                f"the generator from {self.files.describe()} makes {found} but {owner} needs {wanted}; "
                f"load a generator trained for {info.name}")
        if dataset is not None and dataset != info.name:
            raise InvalidGeneratorError(
                f"the generator from {self.files.describe()} was trained on {dataset!r}, not {info.name!r}; "
                f"use the dataset class for {dataset!r} or another generator")
        check_metadata_fits(self.generator.metadata, info, self.files.describe())

    def resolve_ipc(self, ipc: Optional[int], owner: str) -> int:
        ipc = DEFAULT_GENERATOR_IPC if ipc is None else ipc  # checked by the dataset
        self._say_when_seed_has_no_set(owner)
        return ipc

    def _say_when_seed_has_no_set(self, owner: str) -> None:
        """A generator with learned codes holds ``latent_sets`` distilled sets, one per seed below it; a
        later seed gets the raw generator's seeded noise, a different and weaker set. Said once per
        generator and process, so that nobody averages over seeds believing they are learned sets."""
        sampling, where = self.generator.sampling, self.files.describe()
        if not sampling.latents or self.seed < sampling.latent_sets or where in _SAID_NO_LEARNED_SET:
            return
        held = "seed 0" if sampling.latent_sets == 1 else f"seeds 0..{sampling.latent_sets - 1}"
        warnings.warn(f"{owner}(seed={self.seed}): {where} holds learned sets for {held} only; seed {self.seed} gives "
                      f"seeded noise through the same generator, as every seed from {sampling.latent_sets} on (its raw "
                      "images, which train less well than a learned set)", UserWarning, stacklevel=4)
        _SAID_NO_LEARNED_SET.add(where)  # after the warning: one turned into an error is raised again next time

    def _cached(self, label: int, chunk: int) -> Optional[np.ndarray]:
        return None if self.cache is None else self.cache.get(self.seed, label, chunk, self.chunk_shape)

    def _synthesize(self, keys: List[Tuple[int, int]]) -> List[np.ndarray]:
        chunks = synthesize_chunks(self.generator, self.seed, keys)
        if self.cache is not None:
            for (label, chunk), pixels in zip(keys, chunks):
                self.cache.put(self.seed, label, chunk, pixels)
        return chunks

    def _fill(self, keys: List[Tuple[int, int]], threads: Optional[int]) -> None:
        """Make the chunks ``keys`` ready: read what the cache holds, synthesize the rest on
        several threads (each chunk on one intra-op thread, so its bytes never change)."""
        missing = [key for key in row_keys(self.layout, self.num_classes, keys) if key not in self._chunks]
        for key in list(missing):  # what an earlier process synthesized is read, not made again
            cached = self._cached(*key)
            if cached is not None:
                self._chunks[key] = cached
                missing.remove(key)
        if not missing:
            return
        self.generator  # noqa: B018  (load once, before the threads)
        # A thread costs about a millisecond to start: below MIN_IMAGES_PER_THREAD images each, the
        # work stays on this thread (IPC 1, and a lazy pass's row of small chunks).
        images = len(missing) * self.chunk_size
        workers = min(len(missing), threads or parallelism(), max(1, images // MIN_IMAGES_PER_THREAD))
        if workers == 1 and images < PROGRESS_MIN_IMAGES:
            self._chunks.update(zip(missing, self._synthesize(missing)))
            return
        # Batches of about BATCH_IMAGES images, handed to the threads as they free up (even work,
        # and a progress bar that moves); every chunk is still made whole on one thread, and with
        # the "class_rows" layout every row (a batch holds whole rows: ``missing`` is in row order).
        row = self.num_classes if self.layout == "class_rows" else 1
        per_batch = max(1, min(BATCH_IMAGES // (self.chunk_size * row), -(-len(missing) // (workers * row)))) * row
        batches = [missing[i:i + per_batch] for i in range(0, len(missing), per_batch)]
        with ThreadPoolExecutor(max_workers=workers) as pool, _progress(images) as bar:
            for batch, chunks in zip(batches, pool.map(self._synthesize, batches)):
                self._chunks.update(zip(batch, chunks))
                bar.update(len(batch) * self.chunk_size)

    def image(self, label: int, k: int) -> np.ndarray:
        chunk = k // self.chunk_size
        if (label, chunk) not in self._chunks:
            # A pass in index order touches every class's chunk j together (classes interleave):
            # make them together, one per core, rather than one at a time.
            self._fill([(c, chunk) for c in range(self.num_classes)], None)
        return self._chunks[(label, chunk)][k % self.chunk_size]

    def materialize(self, ipc: int, num_classes: int, threads: Optional[int] = None) -> None:
        chunks_per_class = -(-ipc // self.chunk_size)
        self._fill([(c, j) for j in range(chunks_per_class) for c in range(num_classes)], threads)

    def describe(self) -> List[str]:
        gen = self._generator
        arch = f"{gen.config.architecture} ({gen.num_parameters:,} parameters)" if gen is not None else "not loaded"
        return [f"Seed: {self.seed}", f"Generator: {self.files.describe()}", f"Architecture: {arch}"]

    def info(self) -> Dict[str, Any]:
        gen = self.generator
        saved = gen.metadata
        return {
            "kind": self.kind, "source": self.source_record(), "generator": gen.config.to_dict(),
            "num_parameters": gen.num_parameters, "sampling": gen.sampling.to_dict(),
            "training": saved.get("training") or None, "metrics": saved.get("metrics") or None,
            "metadata": {k: v for k, v in saved.items() if k not in ("training", "metrics")},
        }

    def __getstate__(self) -> Dict[str, Any]:
        # The module is dropped (a worker reloads it from the same files only if it must
        # synthesize); already synthesized chunks travel, being small uint8 arrays.
        state = self.__dict__.copy()
        state["_generator"] = None
        return state


def check_metadata_fits(metadata: Dict[str, Any], info: DatasetInfo, where: str) -> None:
    """The config's class names and normalisation, when it states them, must be the dataset's."""
    classes = metadata.get("classes")
    if classes is not None and list(classes) != list(info.classes):
        raise InvalidGeneratorError(f"the config from {where} names the classes {classes}, but {info.title}'s are "
                                    f"{list(info.classes)}; it was not made for {info.name}")
    norm = metadata.get("normalization")
    if norm is not None:
        stated = (list(norm.get("mean", [])), list(norm.get("std", []))) if isinstance(norm, dict) else None
        if stated is None or [round(v, 4) for v in stated[0]] != [round(v, 4) for v in info.mean] \
                or [round(v, 4) for v in stated[1]] != [round(v, 4) for v in info.std]:
            raise InvalidGeneratorError(f"the config from {where} states the normalization {norm}, but {info.title} "
                                        f"uses mean {list(info.mean)} and std {list(info.std)}")


class StoredImagesSource(ImageSource):
    """A fixed set of stored images (Wang et al. 2018) with the schedule they were learned for.

    ``ipc`` None (or the stored count) means every stored image; another value is refused, since
    the images were learned together with their schedule and a subset is not the same method.
    ``seed`` is accepted so that scripts looping over seeds run unchanged, but there is one set: a
    seed other than 0 says so once per set and process (it gives seed 0's images).
    """

    kind = "stored images"

    def __init__(self, files: ResolvedFiles, seed: int, config_data: Optional[Dict[str, Any]] = None):
        super().__init__(files, seed)
        self.learned = LearnedImages.from_files(files.config_path, files.weights_path, config_data)

    @property
    def generator(self) -> Generator:
        raise InvalidGeneratorError(f"{self.files.describe()} holds learned images, not a generator")

    def check_fits(self, info: DatasetInfo, owner: str) -> None:
        cfg = self.learned.config
        found = {"num_classes": cfg["num_classes"], "channels": cfg["channels"], "image_size": cfg["image_size"]}
        wanted = {"num_classes": info.num_classes, "channels": info.channels, "image_size": info.image_size}
        if found != wanted or cfg["dataset"] != info.name:
            raise InvalidGeneratorError(
                f"the learned images from {self.files.describe()} are for {cfg['dataset']!r} {found}, but {owner} "
                f"needs {info.name!r} {wanted}; use the dataset class for {cfg['dataset']!r}")
        check_metadata_fits(cfg, info, self.files.describe())

    def resolve_ipc(self, ipc: Optional[int], owner: str) -> int:
        stored = self.learned.images_per_class
        if ipc is None or ipc == stored:
            self._say_when_seed_is_ignored(owner)
            return stored
        raise UsageError(
            f"{owner}: these learned images hold exactly {stored} image(s) per class, trained together with "
            f"their {self.learned.steps}-step x {self.learned.epochs}-epoch schedule, so a subset is not the same "
            f"method; pass ipc=None (or ipc={stored}; on the command line: no --ipc, or --ipc {stored}), "
            f"got ipc={ipc!r}")

    def _say_when_seed_is_ignored(self, owner: str) -> None:
        where = self.files.describe()
        if self.seed == 0 or where in _SAID_ONE_STORED_SET:
            return
        warnings.warn(f"{owner}(seed={self.seed}): {where} holds one stored set of learned images; every seed gives "
                      "the same images (those of seed 0), so averaging over seeds measures one set", UserWarning,
                      stacklevel=4)
        _SAID_ONE_STORED_SET.add(where)

    def image(self, label: int, k: int) -> np.ndarray:
        # Stored image j has label j % num_classes: sample k of class c is image k * K + c.
        return self.learned.pixels()[k * self.learned.num_classes + label]

    def describe(self) -> List[str]:
        return [f"Source: {self.files.describe()}", *self.learned.describe()]

    def info(self) -> Dict[str, Any]:
        cfg = self.learned.config
        return {"kind": self.kind, "source": self.source_record(),
                "images": {"count": int(self.learned.images.shape[0]), "per_class": self.learned.images_per_class,
                           "steps": self.learned.steps, "epochs": self.learned.epochs,
                           "learning_rates": self.learned.lr_schedule},
                "training": cfg.get("training") or None, "metrics": cfg.get("metrics") or None,
                "metadata": {k: v for k, v in cfg.items() if k not in ("training", "metrics", "learning_rates")}}


def open_source(files: ResolvedFiles, seed: int, cache_dir: Optional[str] = None) -> ImageSource:
    """The source that reads ``files``, chosen by the config's format (stored images need no cache).
    config.json is read and checked once, here, and handed to the loader."""
    data = read_config_file(files.config_path, formats=(FORMAT_NAME, IMAGES_FORMAT_NAME))
    if data.get("format") == IMAGES_FORMAT_NAME:
        return StoredImagesSource(files, seed, data)
    return GeneratorSource(files, seed, cache_dir, data)
