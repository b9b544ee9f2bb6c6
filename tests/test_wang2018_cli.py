"""`distilled-datasets distill-wang` and `wang-pretrain` end to end on tiny MNIST-format files."""

from __future__ import annotations

import json

import pytest
import torch

from distilled_datasets import DistilledMNIST
from distilled_datasets.cli import main


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # the commands below set --threads 1


def test_distill_wang_random_mode_writes_a_loadable_folder(tmp_path, make_mnist_root, capsys):
    root = make_mnist_root(tmp_path / "data", n=20)
    out = tmp_path / "run"
    code = main(["distill-wang", "--dataset", "mnist", "--data-root", str(root), "--mode", "random",
                 "--images-per-class", "2", "--steps", "2", "--epochs", "2", "--iterations", "2", "--batch-size", "8",
                 "--eval-nets", "2", "--threads", "1", "--device", "cpu", "--out", str(out)])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    ds = DistilledMNIST(repo_id=out)
    learned = ds.learned
    assert len(ds) == 20 and len(learned.lr_schedule) == 4 and learned.epochs == 2 and learned.init_state_dict() == {}
    config = json.loads((out / "config.json").read_text())
    assert config["mode"] == "random" and config["metrics"]["eval_nets"] == 2
    assert "distill-wang" in config["command"]
    # A second run into the same folder is refused without --overwrite (exit 2, as every user-fixable failure).
    assert main(["distill-wang", "--dataset", "mnist", "--data-root", str(root), "--iterations", "1",
                 "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_pretrain_then_malicious_pool_mode(tmp_path, make_mnist_root, capsys):
    root = make_mnist_root(tmp_path / "data", n=20)
    pool = tmp_path / "pool"
    assert main(["wang-pretrain", "--dataset", "mnist", "--data-root", str(root), "--nets", "2", "--train-epochs", "1",
                 "--threads", "1", "--device", "cpu", "--out", str(pool)]) == 0
    assert sorted(p.name for p in pool.iterdir()) == ["net_000.safetensors", "net_001.safetensors"]
    out = tmp_path / "attack"
    assert main(["distill-wang", "--dataset", "mnist", "--data-root", str(root), "--init-pool", str(pool),
                 "--eval-pool", str(pool), "--malicious", "0", "1", "--steps", "1", "--epochs", "1",
                 "--iterations", "2", "--batch-size", "8", "--threads", "1", "--device", "cpu", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["mode"] == "pool" and config["objective"] == {"malicious": [0, 1]}
    assert "after_k_to_t" in config["metrics"] and "before_other_accuracy" in config["metrics"]


def test_bad_combinations_are_refused(tmp_path, make_mnist_root, capsys):
    root = make_mnist_root(tmp_path / "data", n=20)
    base = ["distill-wang", "--dataset", "mnist", "--data-root", str(root), "--out", str(tmp_path / "x")]
    assert main(base + ["--mode", "random", "--init-from", str(tmp_path)]) == 2
    assert "--init-from" in capsys.readouterr().err
    assert main(base + ["--mode", "pool"]) == 2
    assert "--init-pool" in capsys.readouterr().err
    assert main(base + ["--images-per-class", "3", "--steps", "2"]) == 2
    assert "multiple of steps" in capsys.readouterr().err
