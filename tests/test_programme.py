"""benchmarks/programme.py: every row runs commands that the CLI accepts, under a label of its own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from distilled_datasets.cli import build_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import programme  # noqa: E402


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10"])
def test_every_row_names_only_flags_and_values_the_cli_accepts(dataset, tmp_path, capsys):
    rows = [e for e in programme.EXPERIMENTS if dataset in e.datasets]
    assert rows
    for exp in rows:
        for _, argv, _ in programme.steps(exp, dataset, tmp_path, "data", canonical="canonical.npz"):
            try:
                args = build_parser(argv[0]).parse_args(argv)
            except SystemExit:
                pytest.fail(f"{exp.name}: the CLI refuses {argv}: {capsys.readouterr().err}")
            assert args.command == argv[0]


def test_rows_have_names_and_labels_of_their_own():
    # The README tables key a row by its label: two experiments under one label would share a row.
    for dataset in ("mnist", "fashion_mnist", "cifar10"):
        rows = [e for e in programme.EXPERIMENTS if dataset in e.datasets]
        assert len({e.name for e in rows}) == len(rows)
        assert len({e.label for e in rows}) == len(rows)
    for exp in programme.EXPERIMENTS:
        assert set(exp.needs) <= {e.name for e in programme.EXPERIMENTS}


def test_processes_run_each_step_under_torchrun(capsys):
    assert programme.launcher(1)[1:] == ["-m", "distilled_datasets.cli"]
    assert programme.launcher(2)[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                                         "-m", "distilled_datasets.cli"]
    with pytest.raises(SystemExit):
        programme.main(["--dataset", "mnist", "--processes", "0"])
    assert "--processes must be at least 1, not 0" in capsys.readouterr().err
