"""Evaluation records (the JSON files of `distilled-datasets evaluate`) checked wherever they are read:
merging parts, model cards, the README tables. A record is data that anyone can edit: its accuracy
is recomputed from its runs' counts, its runs must lie within its seeds, and the summary must be
what the runs give, so an edited number is refused instead of printed.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Union

from distilled_datasets.dataset_info import IMAGE_FOLDER_PREFIX, get_dataset_info
from distilled_datasets.errors import DamagedFileError, DistilledDatasetsError
from distilled_datasets.files import read_json

RESULT_FORMAT = "distilled-datasets/evaluation"
TOLERANCE = 1e-3  # accuracies are stored rounded to 4 decimals
MAX_RUNS = 10_000


class InvalidRecordError(DamagedFileError):
    """An evaluation record whose content does not hold together (edited, truncated, another format)."""


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _non_negative(value: Any) -> bool:
    """A finite number >= 0 (durations, accuracies in percent)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


def check_record(record: Any, where: str) -> Dict[str, Any]:
    """``record`` if it is a consistent evaluation record, else InvalidRecordError naming ``where``."""
    def fail(why: str) -> None:
        raise InvalidRecordError(f"{where} is not a consistent evaluation record: {why}")

    if not isinstance(record, dict) or record.get("format") != RESULT_FORMAT:
        fail(f"its format is not {RESULT_FORMAT!r}")
    dataset = record.get("dataset")
    if not (isinstance(dataset, str) and dataset.startswith(IMAGE_FOLDER_PREFIX)):  # a user's folder: any name
        try:
            get_dataset_info(dataset)
        except DistilledDatasetsError:
            fail(f"unknown dataset {dataset!r}")
    if not isinstance(record.get("method"), str) or not record["method"]:
        fail("its 'method' (the row's name) must be a non-empty string")
    ipc = record.get("ipc")
    if ipc is not None and not (_int(ipc) and ipc >= 1):
        fail(f"ipc {ipc!r} is not a positive int")
    for key, kind in (("protocol", dict), ("source", dict), ("runs", list), ("seeds", list), ("accuracy", dict)):
        if not isinstance(record.get(key), kind):
            fail(f"{key!r} must be a {kind.__name__}")
    seeds = record["seeds"]
    if len(seeds) > MAX_RUNS or not all(_int(s) for s in seeds) or len(set(seeds)) != len(seeds):
        fail("'seeds' must be distinct ints")
    seen = set()
    for run in record["runs"]:
        if not isinstance(run, dict) or not all(_int(run.get(k)) for k in ("run", "correct", "test_images")):
            fail("every run needs int 'run', 'correct' and 'test_images'")
        r, correct, images = run["run"], run["correct"], run["test_images"]
        if r not in seeds or r in seen:
            fail(f"run {r} is not one of its seeds {seeds[:10]} or appears twice")
        seen.add(r)
        if not 0 <= correct <= images or images < 1:
            fail(f"run {r}: {correct} correct of {images} test images")
        accuracy = run.get("accuracy")
        if not isinstance(accuracy, (int, float)) or not abs(accuracy - 100.0 * correct / images) <= TOLERANCE:
            fail(f"run {r}: accuracy {accuracy!r} is not 100 * correct / test_images "
                 f"({100.0 * correct / images:.4f})")
        if not all(_non_negative(run.get(k, 0)) for k in ("run_seconds", "train_seconds")):
            fail(f"run {r}: 'run_seconds' and 'train_seconds', where given, must be numbers >= 0")
        cost = run.get("original_test")
        if cost is not None and not (isinstance(cost, dict) and all(_int(cost.get(k)) for k in (
                "images", "original_correct", "copy_correct")) and all(_non_negative(cost.get(k)) for k in (
                "original_accuracy", "copy_accuracy"))):
            fail(f"run {r}: 'original_test' must hold int images, original_correct, copy_correct and their accuracies")
    if record["runs"]:
        values = [100.0 * run["correct"] / run["test_images"] for run in record["runs"]]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        summary = record["accuracy"]
        for key, value in (("mean", mean), ("std", std), ("n", len(values))):
            if not isinstance(summary.get(key), (int, float)) or not abs(summary[key] - value) <= TOLERANCE:  # NaN too
                fail(f"accuracy.{key} is {summary.get(key)!r}, its runs give {value:.4f}")
    if record.get("complete") and (sorted(seen) != sorted(seeds) or not seeds):
        fail("it says complete but does not hold every run of its seeds")
    return record


def read_record(path: Union[str, os.PathLike], what: str = "evaluation record") -> Dict[str, Any]:
    return check_record(read_json(path, what), os.fspath(path))
