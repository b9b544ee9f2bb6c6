"""Measure a shipped default's rows again (after its weights changed): one evaluation per run, for a
queue of one process per core, then the parts merged into the result files the tables read.

The rows are those of the README and the cross-architecture table: ConvNet3 at IPC 1 and 10 (the
headline protocol, 1000 epochs, 5 runs), at IPC 50 (300 epochs, 3 runs), and AlexNet, ResNet18 and
VGG11 at IPC 10 (300 epochs, 1 run; ResNet18 on CIFAR-10: 100, the epochs its row was measured
with). Run r trains on learned set r (the harness's dataset seed r). CIFAR-10 runs are also
tested on the original pixels of the JPEG copy's test prefix (--original-test), as every CIFAR-10 row.

    python benchmarks/headline_rows.py commands --dataset fashion_mnist    (one evaluate per run)
    python benchmarks/headline_rows.py merge --dataset fashion_mnist       (parts -> benchmarks/results/eval)

then `python benchmarks/publish_defaults.py` and `python benchmarks/readme_tables.py`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "eval"
LABEL = "learned latents (package default)"
DATA_ROOTS = {"mnist": "../shared/data", "fashion_mnist": "../shared/data", "cifar10": "data/cifar10-jpeg"}
ORIGINAL_TEST = {"cifar10": "../shared/data/CIFAR10-jpeg/canonical.npz"}  # what the JPEG copy costs, per run
EPOCHS = {("cifar10", "resnet18"): 100}  # the epochs a dataset's row of a model was measured with, where not 300


class Row(NamedTuple):
    model: str
    ipc: int
    runs: int
    epochs: Optional[int]  # None: the headline's 1000

    def for_dataset(self, dataset: str) -> "Row":
        return self._replace(epochs=EPOCHS.get((dataset, self.model), self.epochs))

    def result_file(self, dataset: str) -> Path:
        suffix = "" if self.epochs is None else f"_{self.epochs}ep"
        return RESULTS / dataset / f"learned-latents_fixed_{self.model}_ipc{self.ipc}{suffix}.json"

    def part(self, dataset: str, run: int, parts_dir: Path) -> Path:
        return parts_dir / f"{dataset}_{self.model}_ipc{self.ipc}_r{run}.json"


ROWS = [Row("convnet3", 1, 5, None), Row("convnet3", 10, 5, None), Row("convnet3", 50, 3, 300),
        Row("alexnet", 10, 1, 300), Row("resnet18", 10, 1, 300), Row("vgg11", 10, 1, 300)]


def run_command(dataset: str, row: Row, run: int, parts_dir: Path, data_root: str) -> str:
    argv: List[str] = ["distilled-datasets", "evaluate", "--dataset", dataset, "--data-root", data_root,
                       "--source", "default", "--model", row.model, "--ipc", str(row.ipc), "--runs", str(row.runs)]
    if row.epochs is not None:
        argv += ["--epochs", str(row.epochs)]
    if dataset in ORIGINAL_TEST:
        argv += ["--original-test", ORIGINAL_TEST[dataset]]
    argv += ["--run-indices", str(run), "--threads", "1", "--no-progress", "--resume", "--label", LABEL,
             "--out", str(row.part(dataset, run, parts_dir))]
    return shlex.join(argv)


def merge(dataset: str, rows: List[Row], parts_dir: Path) -> int:
    import shutil

    from distilled_datasets.cli import main as cli_main

    for row in rows:
        parts = [row.part(dataset, r, parts_dir) for r in range(row.runs)]
        missing = [str(p) for p in parts if not p.is_file()]
        if missing:
            print(f"{row.result_file(dataset).name}: skipped, parts missing: {', '.join(missing)}")
            continue
        out = row.result_file(dataset)
        if len(parts) == 1:  # one run: the part is the whole evaluation
            shutil.copyfile(parts[0], out)
        elif cli_main(["merge-evaluations", *map(str, parts), "--out", str(out), "--overwrite"]) != 0:
            return 1
        print(f"{out.relative_to(REPO)}: {len(parts)} run(s)")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("commands", "merge"))
    parser.add_argument("--dataset", required=True, choices=sorted(DATA_ROOTS))
    parser.add_argument("--models", nargs="+", default=sorted({r.model for r in ROWS}),
                        help="only the rows of these models (default: every row)")
    parser.add_argument("--parts-dir", type=Path, default=Path("runs") / "eval", help="where the per-run parts go")
    parser.add_argument("--data-root", help="the real data (default: ../shared/data, CIFAR-10: data/cifar10-jpeg)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - {r.model for r in ROWS})
    if unknown:
        parser.error(f"--models: no rows for {unknown}; valid values: {sorted({r.model for r in ROWS})}")
    rows = [r.for_dataset(args.dataset) for r in ROWS if r.model in args.models]
    if args.action == "merge":
        return merge(args.dataset, rows, args.parts_dir)
    data_root = args.data_root or DATA_ROOTS[args.dataset]
    for row in rows:
        for run in range(row.runs):
            print(run_command(args.dataset, row, run, args.parts_dir, data_root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
