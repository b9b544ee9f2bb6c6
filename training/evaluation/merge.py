"""Join the parts of one evaluation measured in separate processes or on separate machines.

Each run r of the protocol seeds everything with r, so runs are independent: an evaluation can be
split (``evaluate(..., run_indices=[3, 4])``, ``distilled-datasets evaluate --run-indices 3 4``)
and its parts joined here into the record one invocation would have written. Parts must describe
the same evaluation (dataset, ipc, protocol, source weights); a run found in two parts must carry
the same result in both. The merged record lists where each run came from (``merged_from``).
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Dict, Optional, Sequence, Union

from distilled_datasets.errors import DistilledDatasetsError, UsageError

from . import copy_cost
from .harness import comparable_key, key_difference, run_times, summarize_runs
from .records import check_record, read_record

PathLike = Union[str, os.PathLike]


def _load(path: PathLike) -> Dict[str, Any]:
    return read_record(path, "evaluation part")


def _same_result(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    return (a.get("accuracy"), a.get("correct"), a.get("test_images")) == \
        (b.get("accuracy"), b.get("correct"), b.get("test_images"))


def merge_evaluations(paths: Sequence[PathLike], out: Optional[PathLike] = None,
                      command: Optional[str] = None) -> Dict[str, Any]:
    """Merge the evaluation records at ``paths`` (at least two) into one; with ``out``, write it
    atomically (``out`` may be one of the parts). ``complete`` is true when every run of the
    protocol is present. The part planning the most runs (the first of those) heads the record:
    its protocol, source, command and hardware."""
    from distilled_datasets.files import atomic_write_json

    if len(paths) < 2:
        raise UsageError(f"merge needs at least two evaluation parts, got {len(paths)}")
    parts = [_load(p) for p in paths]
    for path, part in zip(paths[1:], parts[1:]):
        if comparable_key(part) != comparable_key(parts[0]):
            differ = key_difference(comparable_key(parts[0]), comparable_key(part))
            raise UsageError(f"{os.fspath(path)!r} is a different evaluation from {os.fspath(paths[0])!r} "
                             f"({differ} differ); only parts of one evaluation merge")
    # Run r is the same measurement whatever the run count (run r seeds everything with r), so an
    # evaluation of 2 runs and a part with runs 2..4 of a 5-run one merge; the part planning the
    # most runs heads the record (its protocol says how many runs the merged record should hold).
    first = max(parts, key=lambda part: len(part.get("seeds", [])))
    runs: Dict[int, Dict[str, Any]] = {}
    origin: Dict[int, str] = {}
    for path, part in zip(paths, parts):
        for run in part.get("runs", []):
            r = run["run"]
            if r in runs and not _same_result(runs[r], run):
                raise UsageError(f"run {r} is in {origin[r]!r} and {os.fspath(path)!r} with different results "
                                 f"({runs[r].get('accuracy')} vs {run.get('accuracy')}); keep one of them")
            runs.setdefault(r, run)
            origin.setdefault(r, os.fspath(path))
    if not runs:
        raise UsageError("the evaluation parts hold no finished runs")
    outside = sorted(set(runs) - set(first["seeds"]))
    if outside:
        raise UsageError(f"runs {outside} (from {sorted({origin[r] for r in outside})}) lie outside the "
                         f"{len(first['seeds'])} runs of the evaluation that {os.fspath(paths[parts.index(first)])!r} "
                         "plans; only parts of one evaluation merge")
    merged_runs = [runs[r] for r in sorted(runs)]
    record = {k: v for k, v in first.items() if k not in ("run_indices", "resumed_runs", "time")}
    if "original_test" in record:
        record["original_test"] = {**record["original_test"], "summary": copy_cost.summarize(merged_runs)}
    record.update({
        "runs": merged_runs, "accuracy": summarize_runs(merged_runs),
        "complete": [r["run"] for r in merged_runs] == first["seeds"],
        "time": {"total_seconds": None, **run_times(merged_runs),
                 "note": "merged from parts that may have run in parallel; see merged_from"},
        "merged_from": [{"path": os.fspath(p), "command": part.get("command"), "created": part.get("created"),
                         "hardware": part.get("hardware"),
                         "runs": sorted(r for r, o in origin.items() if o == os.fspath(p))}
                        for p, part in zip(paths, parts)],
        "merged": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mixed_hardware": any(part.get("hardware") != first.get("hardware") for part in parts),
    })
    if command is not None:
        record["merge_command"] = command
    check_record(record, "the merged record")  # what is written must read back (a part may be edited)
    if out is not None:
        atomic_write_json(out, record)
    return record



def check_merge_out(out: PathLike, parts: Sequence[PathLike], overwrite: bool) -> None:
    """An existing ``out`` is replaced only when it is one of the parts (merging into a part) or
    with ``overwrite``, and then only if it is an evaluation record: never another kind of file."""
    from distilled_datasets.errors import OutputExistsError

    if not os.path.exists(out) or any(os.path.samefile(out, p) for p in parts if os.path.exists(p)):
        return
    if not overwrite:
        raise OutputExistsError(f"--out {os.fspath(out)} exists and is not one of the parts; pass --overwrite to "
                                "replace it")
    try:
        read_record(out, "--out")
    except DistilledDatasetsError as exc:
        raise OutputExistsError(f"--out {os.fspath(out)} is not an evaluation record; --overwrite replaces only "
                                f"evaluation records ({exc})") from None
