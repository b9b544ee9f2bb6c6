"""The evaluation harness: one protocol for every method (DESIGN.md, "Evaluation protocol").

``evaluate(source, dataset=..., ipc=..., runs=..., config=EvalConfig(...)) -> dict`` trains a
model of the zoo from scratch on a training set, ``runs`` times, tests each once on the full real
test split, and returns (and writes, atomically) one JSON-ready record.

Sources: "default" (the generator shipped with the package), a run directory or Hub id, a
dataset class such as ``DistilledMNIST`` (+ ``dataset_kwargs``), "random-real" (``ipc`` real
training images per class) and "whole" (the whole real training set: the ceiling).

Protocols: "fixed" -- run r trains on the set of seed r (``DistilledMNIST(ipc=ipc, seed=r)``,
read item by item exactly as a user gets it: uint8 -> float -> normalised), fixed for the run;
"resample" (DiM-style) -- every batch comes from fresh generator noise (floats, not quantised).
Run r also seeds the model initialisation, the batch order and DSA with r.
"""

from __future__ import annotations

import copy
import datetime
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from distilled_datasets.dataset_info import IMAGE_FOLDER
from distilled_datasets.errors import UsageError, WriteError
from distilled_datasets.files import check_writable, writing
from distilled_datasets.validation import check_int, check_positive_int, non_negative_int, positive_int

from ..common.config_flags import check_bounds, named
from ..common.model_zoo import build_model, list_models
from ..common.provenance import command_line, describe_hardware, resolve_device
from ..common.real_data import default_data_root, generator_to_normalized, get_dataset_info, load_tensors, random_real_subset
from .classifier_training import (
    HEADLINE,
    NORM_CHOICES,
    FixedSet,
    ResampledSet,
    TrainConfig,
    execution_dict,
    prepare_model,
    test_accuracy,
    train_model,
)
from . import copy_cost
from .records import RESULT_FORMAT, read_record
from .copy_cost import CopyCostSet, load_copy_cost_set
from .source_resolution import (
    SPECIAL_SOURCES,
    Source,
    TensorPair,
    as_normalized,
    default_label,
    describe_source,
    read_items,
    register_image_folder_source,
    resolve_source,
)

logger = logging.getLogger(__name__)

PROTOCOLS = ("fixed", "resample")
DEFAULT_WHOLE_EPOCHS = 20
MAX_EPOCHS = 100_000  # 100 times the headline protocol: more is a typo, refused before any work


def _help(text: str, **more) -> Dict[str, Any]:
    return {"help": text, **more}


@dataclass
class EvalConfig:
    """Everything but the source, dataset and ipc; every field is a flag of ``distilled-datasets
    evaluate``. ``epochs=None``: 1000 (the headline), or ``whole_epochs`` for the whole training
    set. Execution options change speed, not results."""

    protocol: str = field(default="fixed", metadata=_help(
        "fixed: the set of seed r for the whole run; resample: fresh generator noise every batch", choices=PROTOCOLS))
    model: str = field(default="convnet3", metadata=_help("architecture trained", choices=list_models()))
    runs: int = field(default=HEADLINE["runs"], metadata=_help("runs r = 0..RUNS-1", type=positive_int))
    dataset_seed: Optional[int] = field(default=None, metadata=_help(
        "every run trains on the set (or real subset) of this seed, not run r's seed r: compares recipes that "
        "learned one set, at the cost of the set's own variance; marks the result reduced", type=non_negative_int))
    epochs: Optional[int] = field(default=None, metadata=_help(
        "training epochs (None: 1000; for --source whole, --whole-epochs)", type=positive_int, max=MAX_EPOCHS))
    whole_epochs: int = field(default=DEFAULT_WHOLE_EPOCHS, metadata=_help(
        "epochs for --source whole when --epochs is not given", type=positive_int, max=MAX_EPOCHS))
    batch_size: int = field(default=HEADLINE["batch_size"], metadata=_help("SGD batch size", type=positive_int))
    lr: float = field(default=HEADLINE["lr"], metadata=_help("SGD rate"))
    momentum: float = field(default=HEADLINE["momentum"], metadata=_help("SGD momentum"))
    weight_decay: float = field(default=HEADLINE["weight_decay"], metadata=_help("SGD weight decay"))
    lr_decay_epoch: Optional[int] = field(default=None, metadata=_help(
        "the epoch the rate is multiplied by --lr-decay-factor (None: half of the epochs)"))
    lr_decay_factor: float = field(default=HEADLINE["lr_decay_factor"], metadata=_help("the rate's factor then"))
    augment: bool = field(default=True, metadata=_help(
        "DSA augmentation (flip only where the dataset allows it); --no-augment marks the result reduced"))
    data_root: Optional[str] = field(default=None, metadata=_help(
        "the real data: torchvision's files, or an image folder ROOT/train/<class>/..., ROOT/test/<class>/... "
        "(None: $DISTILLED_DATASETS_DATA, else ./data)"))
    download: bool = field(default=False, metadata=_help("let torchvision download the real data if missing"))
    device: str = field(default="auto", metadata=_help("auto (CUDA when present), cpu, cuda, cuda:N"))
    label: Optional[str] = field(default=None, metadata=_help(
        'the method\'s name in the JSON, e.g. "global+local"'))
    # Execution: speed only, the results do not change.
    threads: Optional[int] = field(default=None, metadata=_help(
        "torch intra-op threads (None: torch's). On a shared CPU use 1: measured 10x faster than 2 at IPC 1 under "
        "load (benchmarks/results/trainer_variants.json)", type=positive_int))
    norm: str = field(default="auto", metadata=_help("kernel for instance norm (mathematically equal)",
                                                     choices=NORM_CHOICES))
    channels_last: Optional[bool] = field(default=None, metadata=_help("channels_last memory format (None: CUDA only)"))
    amp: Optional[bool] = field(default=None, metadata=_help("bf16 autocast (None: CUDA only)"))
    deterministic: bool = field(default=False, metadata=_help("CUDA: deterministic kernels, no cudnn.benchmark"))
    test_batch_size: Optional[int] = field(default=None, metadata=_help(
        "images per test batch (None: 4096 on CUDA, 500 on CPU)", type=positive_int))
    test_limit: Optional[int] = field(default=None, metadata=_help(
        "test on the first N test images only (quick checks; marks the result reduced; an image folder lists its "
        "test images class by class, so N below the split's size leaves classes out)", type=positive_int))
    progress: bool = field(default=True, metadata=_help("tqdm bars"))
    original_test: Optional[str] = field(default=None, metadata=_help(
        "canonical.npz of a lossy copy (CIFAR-10's JPEG copy): every run is also tested on the original pixels of "
        "its test images and on their copies under the data root, to measure the copy's cost"))

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise UsageError(f"{named('protocol')} must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.model not in list_models():
            raise UsageError(f"unknown {named('model')} {self.model!r}; valid values: {list_models()}")
        if self.dataset_seed is not None:
            check_int(named("dataset_seed"), self.dataset_seed, 0, 2**63 - 1)
            if self.protocol != "fixed":
                raise UsageError(f"{named('dataset_seed')} applies to the fixed protocol (one set per run), not "
                                 f"{self.protocol!r}")
        for name in ("runs", "whole_epochs", "test_limit", "threads", "test_batch_size"):
            if getattr(self, name) is not None:
                check_positive_int(named(name), getattr(self, name))
        for name in ("epochs", "whole_epochs"):
            if getattr(self, name) is not None:
                check_positive_int(named(name), getattr(self, name), MAX_EPOCHS)
        check_bounds(self)
        self.train_config(whole=False)  # validates the optimisation values now, not after loading data

    def train_config(self, whole: bool) -> TrainConfig:
        epochs = self.epochs if self.epochs is not None else (self.whole_epochs if whole else HEADLINE["epochs"])
        return TrainConfig(
            epochs=epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
            weight_decay=self.weight_decay, lr_decay_epoch=self.lr_decay_epoch, lr_decay_factor=self.lr_decay_factor,
            test_batch_size=self.test_batch_size, norm=self.norm, channels_last=self.channels_last, amp=self.amp,
            deterministic=self.deterministic, progress=self.progress)


# ---- protocol record -------------------------------------------------------------------------


def dataset_seed(cfg: EvalConfig, r: int) -> int:
    """The dataset (or real-subset) seed of run r: r, or the one ``cfg.dataset_seed`` of every run."""
    return r if cfg.dataset_seed is None else cfg.dataset_seed


def _shared_set_note(probe: Any, ipc: Optional[int], runs: int, one_seed: Optional[int] = None) -> str:
    """Which set each run trains on, when that is not plain seeded noise (stored images, or learned
    latents: one set per seed below sampling.latent_sets)."""
    if probe is None:
        return ""
    if getattr(probe, "learned", None) is not None:
        return "; stored images: one set for every seed, so runs differ in network init, batch order and augmentation"
    latents, sets = probe.generator.sampling.latents, probe.generator.sampling.latent_sets
    if not latents:
        return ""
    if one_seed is not None:
        held = (f"learned set {one_seed} of the generator's {sets}" if one_seed < sets
                else f"seeded noise (the generator holds {sets} learned set(s))")
        return f"; the first {latents} images per class are {held}"
    note = (f"; the first {latents} images per class of run r are learned set r of the generator's {sets} (each "
            "learned from its own start)")
    if runs > sets:
        note += f"; runs {sets} and up have no learned set: seeded noise through the generator"
    if ipc is not None and ipc > latents:
        note += f"; images {latents} and up per class come from noise seeded by r"
    return note


def _protocol(cfg: EvalConfig, tcfg: TrainConfig, src: Source, augment: Any, test_images: int,
              test_injected: bool, test_available: int, device: torch.device, probe: Any = None,
              ipc: Optional[int] = None) -> Dict[str, Any]:
    reasons: List[str] = []
    values = {**tcfg.protocol_dict(), "runs": cfg.runs}
    for key in ("epochs", "runs", "batch_size", "lr", "momentum", "weight_decay", "lr_decay_factor"):
        if values[key] != HEADLINE[key]:
            whole = " (whole training set: the headline's epoch count is meant for ipc-sized sets)" \
                if key == "epochs" and src.kind == "whole" else ""
            reasons.append(f"{key} = {values[key]} instead of {HEADLINE[key]}{whole}")
    if tcfg.decay_epoch != tcfg.epochs // 2:
        reasons.append(f"lr decays at epoch {tcfg.decay_epoch}, not at half ({tcfg.epochs // 2})")
    if augment is None:
        reasons.append("no DSA augmentation")
    if cfg.dataset_seed is not None:
        reasons.append(f"every run trains on the set of dataset seed {cfg.dataset_seed} (the headline: run r on seed "
                       "r), so the spread leaves out the set's own variance")
    if test_injected:
        reasons.append(f"test split passed in by the caller ({test_available} images), not read from the data root")
    if test_images < test_available:
        reasons.append(f"tested on the first {test_images} of {test_available} test images")
    if cfg.protocol == "resample":
        images = "generator float output, mapped to the normalised space; not quantised to uint8"
        sampling = ("each epoch: ipc images per class (balanced labels, shuffled); each batch generated from "
                    "fresh noise of a torch.Generator seeded with the run seed; raw generator samples (a "
                    "generator's herding selection, sampling.candidates > 1, is a fixed-set feature and is "
                    "not applied here)")
    elif src.kind == "dataset":
        images = "items read through the dataset's __getitem__ (uint8 PIL) -> float -> (x/255 - mean) / std"
        which = "run r trains on the set with dataset seed r" if cfg.dataset_seed is None else \
            f"every run trains on the set with dataset seed {cfg.dataset_seed}"
        sampling = which + ", fixed for the whole run" + _shared_set_note(probe, ipc, cfg.runs, cfg.dataset_seed)
    else:
        images = "real uint8 images -> float -> (x/255 - mean) / std"
        drawn = "seed r" if cfg.dataset_seed is None else f"seed {cfg.dataset_seed} in every run"
        sampling = (f"run r: ipc real training images per class drawn with {drawn}, fixed for the run"
                    if src.kind == "random-real" else "the whole real training split")
    one_seed = {} if cfg.dataset_seed is None else {"dataset_seed": cfg.dataset_seed}  # absent: run r's seed r
    return {
        "name": cfg.protocol, "model": cfg.model, **values, **one_seed,
        "lr_schedule": f"lr x{tcfg.lr_decay_factor} at epoch {tcfg.decay_epoch} of {tcfg.epochs}",
        "loss": "cross-entropy", "augmentation": repr(augment) if augment is not None else None,
        "training_images": images, "sampling": sampling,
        "test": "once, after the last epoch, on the full real test split (no epoch selection)",
        "seeds": ("run r: dataset/subset seed r" if cfg.dataset_seed is None else
                  f"every run: dataset/subset seed {cfg.dataset_seed}; run r:")
                 + " model-init seed r (torch.manual_seed), batch-order and DSA seeded from r",
        "std": "population standard deviation over runs (ddof=0, as DC/DSA report); std_sample has ddof=1",
        "reduced": bool(reasons), "reduced_reasons": reasons, "headline": HEADLINE,
        "execution": {**execution_dict(tcfg, device), "threads": torch.get_num_threads()},
    }


def summarize_runs(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    acc = np.array([r["accuracy"] for r in runs], dtype=np.float64)
    if not len(acc):
        return {"unit": "percent", "n": 0, "mean": None, "std": None, "std_sample": None}
    return {"unit": "percent", "n": len(acc), "mean": round(float(acc.mean()), 4), "std": round(float(acc.std()), 4),
            "std_sample": round(float(acc.std(ddof=1)), 4) if len(acc) > 1 else None,
            "min": float(acc.min()), "max": float(acc.max())}


def comparable_key(record: Dict[str, Any]) -> Dict[str, Any]:
    """What must match for a saved run to be reused by ``resume`` or merged with another record's:
    everything that decides a run's number, so that a merged record never claims one protocol, test
    split or set for runs measured under several."""
    protocol = record["protocol"]
    proto = {k: v for k, v in protocol.items() if k not in ("execution", "runs", "reduced", "reduced_reasons")}
    # The run count differs between parts of one evaluation; any other reason (a test limit...) must match.
    proto["reduced_reasons"] = [r for r in protocol.get("reduced_reasons", []) if not r.startswith("runs = ")]
    # generator_sampling: `select` can change how a generator samples while its weights stay byte-identical.
    src = {k: v for k, v in record["source"].items()
           if k in ("kind", "given", "kwargs", "weights_sha256", "generator_sampling")}
    original = record.get("original_test") or {}
    return {"dataset": record["dataset"], "ipc": record["ipc"], "protocol": proto, "source": src,
            "test_split": record.get("test_split"), "original_test": original.get("images")}


def key_difference(a: Dict[str, Any], b: Dict[str, Any]) -> str:
    """The fields (``protocol.epochs``, ``test_split``...) where two comparable keys differ."""
    fields = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if isinstance(x, dict) and isinstance(y, dict):
            fields += [f"{name}.{k}" for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
        elif x != y:
            fields.append(name)
    return ", ".join(fields)


# ---- the harness -----------------------------------------------------------------------------


def evaluate(source: Any = "default", dataset: Optional[str] = None, ipc: Optional[int] = 10,
             runs: Optional[int] = None, config: Optional[EvalConfig] = None, *, revision: Optional[str] = None,
             dataset_kwargs: Optional[Dict[str, Any]] = None, out: Union[str, os.PathLike, None] = None,
             resume: bool = False, command: Optional[str] = None, test_data: Optional[TensorPair] = None,
             train_data: Optional[TensorPair] = None, run_indices: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """Evaluate ``source`` under ``config`` (default: the headline fixed protocol); returns the
    result record and, with ``out``, writes it atomically after every run (``complete`` false
    until every run of the protocol is in it). ``runs`` overrides ``config.runs``. ``ipc`` is
    ignored (recorded as null) for "whole". ``test_data`` / ``train_data`` ((images, labels): uint8
    or normalised float) replace the real splits, for tests. ``resume`` reuses the finished runs of
    a matching ``out``. ``run_indices`` measures only those runs of the protocol's 0..runs-1 (one
    part of an evaluation split across processes or machines; ``merge_evaluations`` joins the parts)."""
    from distilled_datasets import __version__
    from distilled_datasets.files import atomic_write_json

    from ..common.augment import DSA

    cfg = copy.deepcopy(config) if config is not None else EvalConfig()
    if runs is not None:
        cfg.runs = runs
        cfg.__post_init__()
    wanted = wanted_runs(run_indices, cfg.runs)
    src, name = resolve_source(source, dataset, revision, dataset_kwargs)
    whole = src.kind == "whole"
    if whole:
        ipc = None
    elif isinstance(ipc, bool) or not isinstance(ipc, int) or ipc < 1:
        raise UsageError(f"ipc must be a positive int, got {ipc!r}")
    if cfg.protocol == "resample" and src.kind != "dataset":
        raise UsageError(f"protocol 'resample' needs a generator source (default, a run directory, a Hub id or a "
                         f"dataset class), not {src.kind!r}")
    if cfg.dataset_seed is not None and src.kind == "whole":
        raise UsageError("dataset_seed chooses a distilled set or a real subset; --source whole has neither")
    root = cfg.data_root or default_data_root()
    if name == IMAGE_FOLDER:
        name = register_image_folder_source(src, root)
    spec, device, tcfg = get_dataset_info(name), resolve_device(cfg.device), cfg.train_config(whole)
    if out is not None:
        check_writable(out)  # an unwritable --out fails now, not after the first run has trained
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        augment = DSA.for_dataset(name) if cfg.augment else None
        probe = None
        if src.kind == "dataset":  # opened first: a wrong source fails before any data loads; the JSON pins it
            probe = src.dataset_cls(ipc=ipc, seed=dataset_seed(cfg, 0), **src.kwargs)
        test_injected = test_data is not None
        test_x, test_y = (as_normalized(test_data, name, device) if test_injected
                          else load_tensors(name, root, train=False, download=cfg.download, device=device))
        test_available = len(test_y)
        if cfg.test_limit is not None:
            test_x, test_y = test_x[:cfg.test_limit], test_y[:cfg.test_limit]
        cost_set = load_copy_cost_set(cfg.original_test, root, name, device) if cfg.original_test else None
        train_x = train_y = None
        if src.kind in ("random-real", "whole"):
            train_x, train_y = (as_normalized(train_data, name, device) if train_data is not None
                                else load_tensors(name, root, train=True, download=cfg.download, device=device))
        record: Dict[str, Any] = {
            "format": RESULT_FORMAT, "format_version": 1, "complete": False,
            "method": cfg.label or default_label(src), "dataset": name, "ipc": ipc, "model": cfg.model,
            "protocol": _protocol(cfg, tcfg, src, augment, len(test_y), test_injected, test_available, device, probe,
                                  ipc),
            "source": describe_source(src, probe),
            "test_split": {"images": len(test_y), "available": test_available,
                           "root": None if test_injected else str(root)},
            "seeds": list(range(cfg.runs)), "runs": [], "accuracy": summarize_runs([]),
            "command": command or command_line(), "hardware": describe_hardware(device),
            "package_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        if cost_set is not None:
            record["original_test"] = {**cost_set.describe(), "summary": {}}
        if run_indices is not None:
            record["run_indices"] = wanted  # this record is (at most) that part of the protocol's runs
        if resume and out is not None and os.path.isfile(out):
            record["runs"], saved = _resumable_runs(out, record, wanted)
            record["resumed_runs"] = len(record["runs"])  # measured by an earlier invocation
            if "merged_from" in saved:  # keep where the reused runs of a merged record came from
                record["merged_from"] = saved["merged_from"]
            record["accuracy"] = summarize_runs(record["runs"])
        started = time.perf_counter()
        already = {done["run"] for done in record["runs"]}
        for r in [r for r in wanted if r not in already]:
            record["runs"].append(_one_run(r, cfg, tcfg, src, name, spec, ipc, device, augment, probe,
                                           (train_x, train_y), (test_x, test_y), cost_set))
            record["runs"].sort(key=lambda run: run["run"])
            record["accuracy"] = summarize_runs(record["runs"])
            if cost_set is not None:
                record["original_test"]["summary"] = copy_cost.summarize(record["runs"])
            if out is not None:
                _write(out, record, atomic_write_json)
        record["time"] = {"total_seconds": round(time.perf_counter() - started, 2), **run_times(record["runs"])}
        record["complete"] = [r["run"] for r in record["runs"]] == record["seeds"]
        if out is not None:
            _write(out, record, atomic_write_json)
        acc = record["accuracy"]
        logger.info("%s %s ipc=%s %s %s: %.2f +- %.2f %% over %d runs", record["method"], name, ipc, cfg.model,
                    cfg.protocol, acc["mean"], acc["std"], acc["n"])
        return record
    finally:
        torch.set_num_threads(threads_before)


def _write(out: Union[str, os.PathLike], record: Dict[str, Any], writer) -> None:
    """Write the record; if ``out`` cannot be written (a full or read-only disk), keep the measured runs
    in a file of the temporary folder and say where, so minutes of training are never lost."""
    try:
        with writing(out):
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            writer(os.fspath(out), record)
    except WriteError as exc:
        kept = Path(tempfile.gettempdir()) / f"distilled-datasets-evaluation-{os.getpid()}-{Path(out).name}"
        try:
            writer(os.fspath(kept), record)
        except (WriteError, OSError):
            raise exc from None
        raise WriteError(f"{exc}; the {len(record['runs'])} finished run(s) were kept in {kept} (pass it back "
                         f"with --out {kept} --resume, or copy it)") from exc


def wanted_runs(run_indices: Optional[Sequence[int]], runs: int) -> List[int]:
    """The run indices one invocation measures: all of 0..runs-1, or the given ones (sorted, unique)."""
    if run_indices is None:
        return list(range(runs))
    indices = list(run_indices)
    if not indices or any(isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < runs for r in indices):
        raise UsageError(f"run_indices must be a non-empty list of run numbers in 0..{runs - 1} (runs={runs}), "
                         f"got {run_indices!r}")
    return sorted(set(indices))


def run_times(runs: List[Dict[str, Any]]) -> Dict[str, Optional[float]]:
    """Mean durations over the runs that recorded them (records written by hand may not have)."""
    def mean(key: str) -> Optional[float]:
        values = [r[key] for r in runs if key in r]
        return round(float(np.mean(values)), 2) if values else None

    return {"mean_run_seconds": mean("run_seconds"), "mean_train_seconds": mean("train_seconds")}


def _resumable_runs(out: Union[str, os.PathLike], record: Dict[str, Any],
                    wanted: List[int]) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """The saved runs of ``out`` that this invocation wants, and the saved record."""
    saved = read_record(out, "--resume: evaluation")
    if comparable_key(saved) != comparable_key(record):
        differ = key_difference(comparable_key(saved), comparable_key(record))
        raise UsageError(f"--resume: {out} holds a different evaluation ({differ} differ); remove it or write to "
                         "another --out")
    # A run is written only once it finished, and runs are independent (run r seeds everything
    # with r), so any saved run this invocation wants is reused as it is.
    done = {r["run"]: r for r in saved.get("runs", []) if r.get("run") in wanted}
    logger.info("resuming %s: %d of the %d wanted runs already done", out, len(done), len(wanted))
    return [done[r] for r in sorted(done)], saved


def _one_run(r: int, cfg: EvalConfig, tcfg: TrainConfig, src: Source, name: str, spec: Any, ipc: Optional[int],
             device: torch.device, augment: Any, probe: Any, train: TensorPair, test: TensorPair,
             cost_set: Optional[CopyCostSet] = None) -> Dict[str, Any]:
    start = time.perf_counter()
    if cfg.protocol == "resample":
        gen = copy.deepcopy(probe.generator).to(device).eval()
        train_set = ResampledSet(gen, ipc, spec.num_classes, gen.config.noise_dim,
                                 lambda x: generator_to_normalized(x, name), gen.sampling.noise_scale, device)
    elif src.kind == "dataset":
        seed = dataset_seed(cfg, r)
        ds = probe if seed == dataset_seed(cfg, 0) else src.dataset_cls(ipc=ipc, seed=seed, **src.kwargs)  # the probe's
        x, y = read_items(ds, name, device)
        if len(y) != ipc * spec.num_classes:
            raise UsageError(f"{type(ds).__name__}(ipc={ipc}) has {len(y)} items, expected ipc * num_classes = "
                             f"{ipc * spec.num_classes}")
        train_set = FixedSet(x, y)
    elif src.kind == "random-real":
        idx = random_real_subset(train[1], ipc, seed=dataset_seed(cfg, r), num_classes=spec.num_classes)
        train_set = FixedSet(train[0][idx], train[1][idx])
    else:
        train_set = FixedSet(*train)
    data_seconds = time.perf_counter() - start
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # leave the caller's global RNG as it was
        torch.manual_seed(r)  # model init and DSA draws
        model = prepare_model(build_model(cfg.model, spec.channels, spec.num_classes, spec.image_size), device, tcfg)
        trained = train_model(model, train_set, tcfg, device, seed=r, augment=augment,
                              desc=f"run {r + 1}/{cfg.runs}")
    test_start = time.perf_counter()
    correct, total = test_accuracy(model, test[0], test[1], tcfg, device)
    test_seconds = time.perf_counter() - test_start
    accuracy = 100.0 * correct / total
    logger.info("run %d/%d (seed %d): %.2f%% (train %.1f s, %d images/s)", r + 1, cfg.runs, r, accuracy,
                trained.seconds, trained.images_seen / max(trained.seconds, 1e-9))
    result = {"run": r, "seed": r, **({} if cfg.dataset_seed is None else {"dataset_seed": cfg.dataset_seed}),
              "accuracy": round(accuracy, 4), "correct": correct, "test_images": total,
              "training_images": len(train_set), "final_train_loss": round(trained.final_loss, 6),
              "steps": trained.steps, "data_seconds": round(data_seconds, 3),
              "train_seconds": round(trained.seconds, 3), "test_seconds": round(test_seconds, 3),
              "run_seconds": round(time.perf_counter() - start, 3),
              "train_images_per_second": round(trained.images_seen / max(trained.seconds, 1e-9), 1)}
    if cost_set is not None:
        result["original_test"] = copy_cost.measure(cost_set, lambda x, y: test_accuracy(model, x, y, tcfg, device))
    return result


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+]+", "-", text).strip("-").replace("+", "-plus-").lower() or "eval"


__all__ = ["EvalConfig", "evaluate", "default_data_root", "HEADLINE", "PROTOCOLS", "SPECIAL_SOURCES", "slug"]
