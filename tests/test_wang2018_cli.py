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


@pytest.mark.parametrize("command, configs", [
    ("distill-wang", ("WangConfig", "DistillWangSetup")),
    ("wang-pretrain", ("PretrainConfig",)),
])
def test_every_flag_is_a_config_field(command, configs):
    # One configuration path: the flags are generated from the commands' dataclasses, nothing else.
    import argparse
    import dataclasses

    from distilled_datasets.cli import build_parser
    from distilled_datasets.training.wang2018 import command_config, distill_config

    found = {}
    for name in configs:
        cls = getattr(command_config, name, None) or getattr(distill_config, name)
        found.update({f"--{f.name.replace('_', '-')}": name for f in dataclasses.fields(cls)})
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    flags = {s for a in sub._actions for s in a.option_strings if s.startswith("--") and s != "--help"
             and not s.startswith("--no-")}
    assert flags - {"--overwrite"} == set(found)


def test_recipe_errors_name_the_setting_with_exit_2(tmp_path, make_mnist_root, capsys):
    root = make_mnist_root(tmp_path / "data", n=4)
    base = ["distill-wang", "--dataset", "mnist", "--data-root", str(root), "--out", str(tmp_path / "o")]
    assert main([*base, "--images-per-class", "3", "--steps", "2"]) == 2
    assert "images_per_class (3) must be a multiple of steps (2)" in capsys.readouterr().err
    assert main([*base, "--malicious", "4", "4"]) == 2
    assert "malicious must be two different class indices" in capsys.readouterr().err
    # Regression: a class past the dataset's ended in an IndexError traceback after the data had loaded.
    assert main([*base, "--malicious", "3", "12", "--data-root", str(tmp_path / "nowhere")]) == 2
    assert "--malicious K T) must be class indices of mnist, 0..9, got (3, 12)" in capsys.readouterr().err
    assert main([*base, "--images-per-class", "3", "--steps", "2", "--data-root", str(tmp_path / "nowhere")]) == 2
    assert "must be a multiple of steps" in capsys.readouterr().err  # the recipe before the data
    assert main(["wang-pretrain", "--dataset", "mnist", "--data-root", str(root), "--out", str(tmp_path / "p"),
                 "--nets", "0"]) == 2
    assert "nets must be" in capsys.readouterr().err


def test_pretrain_reuses_only_nets_trained_the_same_way(tmp_path, make_mnist_root, capsys):
    """Regression: a second wang-pretrain into the same --out (another dataset or recipe) reused the first
    one's nets and said it had trained them."""
    root = make_mnist_root(tmp_path / "data", n=20)
    base = ["wang-pretrain", "--data-root", str(root), "--nets", "1", "--threads", "1", "--device", "cpu", "--out",
            str(tmp_path / "pool")]
    assert main([*base, "--dataset", "mnist", "--train-epochs", "1"]) == 0
    before = (tmp_path / "pool" / "net_000.safetensors").read_bytes()
    capsys.readouterr()
    assert main([*base, "--dataset", "mnist", "--train-epochs", "1"]) == 0  # the same recipe: reused
    assert main([*base, "--dataset", "mnist", "--train-epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "net_000.safetensors was trained otherwise: epochs '1' (now '2')" in err
    assert (tmp_path / "pool" / "net_000.safetensors").read_bytes() == before
    from distilled_datasets.training.wang2018.result_files import load_pool

    assert len(load_pool(tmp_path / "pool", dataset="mnist")) == 1
    with pytest.raises(ValueError, match="net_000.safetensors was trained on mnist, not fashion_mnist"):
        load_pool(tmp_path / "pool", dataset="fashion_mnist")  # distill-wang --dataset fashion_mnist --init-pool


def test_bad_weight_files_fail_before_the_distillation(tmp_path, make_mnist_root, capsys, monkeypatch):
    # Regressions: a bad --eval-pool failed after the whole distillation; a junk or wrong-model weight file
    # ended in a traceback.
    from safetensors.torch import save_file

    from distilled_datasets.training.wang2018 import distill as distill_module

    root = make_mnist_root(tmp_path / "data", n=20)
    pool = tmp_path / "pool"
    assert main(["wang-pretrain", "--dataset", "mnist", "--data-root", str(root), "--nets", "1", "--train-epochs", "1",
                 "--threads", "1", "--device", "cpu", "--out", str(pool)]) == 0
    junk, other = tmp_path / "junk", tmp_path / "other"
    junk.mkdir()
    (junk / "net_000.safetensors").write_bytes(b"not safetensors")
    other.mkdir()
    save_file({"w": torch.zeros(3)}, str(other / "net_000.safetensors"))
    distilled = []
    monkeypatch.setattr(distill_module, "distill", lambda *a, **k: distilled.append(1))
    base = ["distill-wang", "--dataset", "mnist", "--data-root", str(root), "--init-pool", str(pool), "--steps", "1",
            "--epochs", "1", "--iterations", "1", "--batch-size", "8", "--threads", "1", "--device", "cpu"]
    for flags, message in ((["--eval-pool", str(junk)], "--eval-pool " + str(junk / "net_000.safetensors") +
                            " is not a readable safetensors file"),
                           (["--eval-pool", str(other)], "do not fit the model"),
                           (["--init-pool", str(other)], "--init-pool " + str(other / "net_000.safetensors"))):
        capsys.readouterr()
        assert main(base + flags + ["--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert distilled == [] and not (tmp_path / "r").exists()
