"""What ``distilled-datasets evaluate`` measures and where its records go; the protocol and its
execution are EvalConfig's (harness.py). Every field is a flag, and ``validate`` is the one check
of their combination, before any data loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from distilled_datasets.errors import UsageError
from distilled_datasets.validation import ipc_int, non_negative_int


def _dataset_name(value: str) -> str:
    from distilled_datasets.cli import sample_dataset_name

    return sample_dataset_name(value)


@dataclass
class EvalTarget:
    dataset: Optional[str] = field(default=None, metadata={
        "help": "mnist, fashion_mnist, cifar10, or imagefolder (your own classes: --data-root holds train/ and "
                "test/ class folders; the source a generator trained on them) (required)", "type": _dataset_name})
    source: str = field(default="default", metadata={
        "help": "'default' (the package's generator), a run directory, a Hub id 'org/name', 'random-real' (ipc real "
                "images per class) or 'whole' (the whole real training set)"})
    revision: Optional[str] = field(default=None, metadata={"help": "Hub branch, tag or commit (Hub ids only)"})
    cache_dir: Optional[str] = field(default=None, metadata={
        "help": "folder of the Hub cache, with the image cache under it (None: huggingface_hub's cache; images in "
                "$DISTILLED_DATASETS_CACHE, else $XDG_CACHE_HOME/distilled-datasets, "
                "else ~/.cache/distilled-datasets)"})
    ipc: Tuple[int, ...] = field(default=(), metadata={
        "help": "images per class; several values give one JSON each (not used by --source whole)",
        "type": ipc_int})
    run_indices: Optional[Tuple[int, ...]] = field(default=None, metadata={
        "help": "measure only these runs of 0..RUNS-1 (one part of an evaluation split across processes or machines; "
                "join the parts with `distilled-datasets merge-evaluations`)", "type": non_negative_int,
        "metavar": "R"})
    out: Optional[str] = field(default=None, metadata={
        "help": "JSON path; may contain {ipc} (required with several --ipc)"})
    out_dir: str = field(default="results", metadata={"help": "folder for default-named JSONs"})

    @property
    def whole(self) -> bool:
        return self.source == "whole"

    def ipcs(self) -> list:
        """One record per ipc value (None: the whole training set)."""
        return [None] if self.whole else list(dict.fromkeys(self.ipc))

    def validate(self, runs: int, whole_epochs_flag: Optional[int]) -> None:
        from .harness import wanted_runs

        if not self.dataset:
            raise UsageError("--dataset is required: mnist, fashion_mnist or cifar10")
        if self.whole and self.ipc:
            raise UsageError("--ipc does not apply to --source whole (it trains on every training image); drop it")
        if not self.whole and not self.ipc:
            raise UsageError("--ipc is required (e.g. --ipc 1 10 50) unless --source whole")
        if whole_epochs_flag is not None and not self.whole:
            raise UsageError("--whole-epochs applies to --source whole only; use --epochs")
        if self.run_indices is not None:
            try:
                wanted_runs(list(self.run_indices), runs)
            except UsageError as exc:
                raise UsageError(f"--run-indices: {exc}") from None
        if self.out is not None and len(self.ipcs()) > 1 and "{ipc}" not in self.out:
            raise UsageError(f"--out {self.out!r} needs '{{ipc}}' in its name with several --ipc values "
                             "(one JSON per ipc), e.g. results/eval_ipc{ipc}.json")
