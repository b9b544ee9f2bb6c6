"""The evaluation harness (training/evaluation/harness.py, classifier_training.py and
training/commands/cli_evaluate.py) on tiny data.

Tiny problems: 10 classes of 28x28 images where class c lights a 7x7 patch at its own place, so a
few epochs suffice; the test split is 40 such images passed in (or written in MNIST's raw
format), never the 10,000 real ones, except in the real-data test, which tests on 200 of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import TEST, TRAIN, fast
from torch import nn

from distilled_datasets import DistilledMNIST
from distilled_datasets.cli import main as cli_main
from distilled_datasets.training.common.model_zoo import build_model
from distilled_datasets.training.common.provenance import describe_hardware
from distilled_datasets.training.common.real_data import default_data_root, uint8_to_normalized
from distilled_datasets.training.evaluation import harness as ev
from distilled_datasets.training.evaluation.classifier_training import TrainConfig, _swap_instance_norm
from distilled_datasets.training.evaluation.harness import EvalConfig, evaluate
from distilled_datasets.training.evaluation.source_resolution import resolve_source


@pytest.fixture
def trained_sets(monkeypatch):
    """Records the (images, labels) of every fixed training set the harness builds."""
    seen = []
    original = ev.FixedSet

    def recording(images, labels):
        seen.append((images.clone(), labels.clone()))
        return original(images, labels)

    monkeypatch.setattr(ev, "FixedSet", recording)
    return seen


# ---- trainer -------------------------------------------------------------------------------


def test_trainer_learns_a_separable_problem():
    result = evaluate("random-real", dataset="mnist", ipc=1, config=fast(epochs=5, augment=False),
                      train_data=TRAIN, test_data=TEST)
    assert result["accuracy"]["mean"] > 50.0, result["runs"]  # chance is 10%
    assert result["runs"][0]["steps"] == 5  # 10 images, batch 256: one step per epoch


def test_instance_norm_swap_matches_groupnorm():
    torch.manual_seed(0)
    model = build_model("convnet3", 1, 10, 28)
    with torch.no_grad():  # non-trivial affine parameters
        for m in model.modules():
            if isinstance(m, nn.GroupNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    swapped = build_model("convnet3", 1, 10, 28)
    swapped.load_state_dict(model.state_dict())
    assert _swap_instance_norm(swapped) == 3
    assert not any(isinstance(m, nn.GroupNorm) for m in swapped.modules())
    assert set(model.state_dict()) == set(swapped.state_dict())  # checkpoints stay interchangeable
    x = torch.randn(6, 1, 28, 28)
    out_a, out_b = model(x), swapped(x)
    torch.testing.assert_close(out_a, out_b, rtol=1e-4, atol=1e-5)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), swapped.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="norm"):
        TrainConfig(norm="batchnorm")


# ---- protocol, seeds, JSON ---------------------------------------------------------------------


def test_same_seeds_give_identical_runs_and_seeds_differ():
    cfg = fast(runs=2, epochs=2)
    a = evaluate("random-real", dataset="mnist", ipc=1, config=cfg, train_data=TRAIN, test_data=TEST)
    b = evaluate("random-real", dataset="mnist", ipc=1, config=cfg, train_data=TRAIN, test_data=TEST)
    key = lambda rec: [(r["seed"], r["accuracy"], r["final_train_loss"]) for r in rec["runs"]]  # noqa: E731
    assert key(a) == key(b)
    assert a["runs"][0]["final_train_loss"] != a["runs"][1]["final_train_loss"]


def test_random_real_subsets_are_balanced_and_seeded(trained_sets):
    evaluate("random-real", dataset="mnist", ipc=2, config=fast(runs=2, epochs=1), train_data=TRAIN, test_data=TEST)
    (x0, y0), (x1, y1) = trained_sets
    assert torch.bincount(y0, minlength=10).tolist() == [2] * 10
    assert torch.bincount(y1, minlength=10).tolist() == [2] * 10
    assert not torch.equal(x0, x1)  # run r draws the subset of seed r


def test_json_has_every_field_and_marks_reduced(tmp_path):
    out = tmp_path / "res" / "eval.json"
    record = evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=2, label="my method"), out=out,
                      train_data=TRAIN, test_data=TEST, command="distilled-datasets evaluate --test")
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(record))
    for key in ("command", "hardware", "protocol", "seeds", "runs", "accuracy", "time", "source", "package_version",
                "method", "dataset", "ipc", "model", "test_split", "created"):
        assert key in saved, key
    assert saved["complete"] is True and saved["method"] == "my method"
    assert saved["command"] == "distilled-datasets evaluate --test"
    assert saved["seeds"] == [0, 1] and [r["seed"] for r in saved["runs"]] == [0, 1]
    for run in saved["runs"]:
        for key in ("accuracy", "correct", "test_images", "train_seconds", "test_seconds", "run_seconds"):
            assert key in run, key
    accs = [r["accuracy"] for r in saved["runs"]]
    assert saved["accuracy"]["mean"] == pytest.approx(np.mean(accs), abs=1e-3)
    assert saved["accuracy"]["std"] == pytest.approx(np.std(accs), abs=1e-3)
    proto = saved["protocol"]
    for key in ("epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_decay_epoch", "lr_decay_factor",
                "augmentation", "runs", "model", "name"):
        assert key in proto, key
    assert proto["reduced"] is True
    reasons = " | ".join(proto["reduced_reasons"])
    assert "epochs = 2 instead of 1000" in reasons and "runs = 2 instead of 5" in reasons
    assert "test split passed in" in reasons
    assert proto["execution"]["norm"] == "groupnorm" and proto["execution"]["threads"] >= 1
    assert saved["hardware"]["cpu_cores"] >= 1 and saved["hardware"]["versions"]["torch"] == torch.__version__


def test_headline_protocol_is_not_reduced():
    cfg = EvalConfig()
    src, _ = resolve_source("random-real", "mnist", None, None)
    proto = ev._protocol(cfg, cfg.train_config(False), src, object(), 10000, False, 10000, torch.device("cpu"))
    assert proto["reduced"] is False and proto["reduced_reasons"] == []
    assert (proto["epochs"], proto["lr_decay_epoch"], proto["runs"]) == (1000, 500, 5)
    whole, _ = resolve_source("whole", "mnist", None, None)
    proto = ev._protocol(cfg, cfg.train_config(True), whole, object(), 10000, False, 10000, torch.device("cpu"))
    assert proto["epochs"] == ev.DEFAULT_WHOLE_EPOCHS and proto["reduced"] is True
    assert "whole training set" in proto["reduced_reasons"][0]


def test_resume_reuses_finished_runs(tmp_path):
    out = tmp_path / "eval.json"
    first = evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=1), out=out, train_data=TRAIN,
                     test_data=TEST)
    both = evaluate("random-real", dataset="mnist", ipc=1, config=fast(runs=2), out=out, resume=True,
                    train_data=TRAIN, test_data=TEST)
    assert both["runs"][0] == first["runs"][0] and len(both["runs"]) == 2
    with pytest.raises(ValueError, match="different evaluation"):
        evaluate("random-real", dataset="mnist", ipc=2, config=fast(runs=2), out=out, resume=True,
                 train_data=TRAIN, test_data=TEST)


# ---- generator sources ---------------------------------------------------------------------------


def test_dataset_class_items_are_read_as_a_user_gets_them(mnist_generator_dir, trained_sets):
    record = evaluate(DistilledMNIST, ipc=2, config=fast(epochs=1), dataset_kwargs={"repo_id": mnist_generator_dir},
                      test_data=TEST)
    ds = DistilledMNIST(ipc=2, seed=0, repo_id=mnist_generator_dir)
    (images, labels), = trained_sets
    torch.testing.assert_close(images, uint8_to_normalized(ds.data, "mnist"), rtol=0, atol=0)
    assert torch.equal(labels, ds.targets)
    src = record["source"]
    assert src["kind"] == "dataset" and src["class"].endswith("DistilledMNIST")
    assert src["origin"] == "local" and len(src["weights_sha256"]) == 64
    assert record["complete"] and 0 <= record["runs"][0]["accuracy"] <= 100


def test_default_source_trains_run_r_on_the_shipped_set_r_and_whole_on_every_image(trained_sets):
    import distilled_datasets
    from distilled_datasets.files import sha256_file

    record = evaluate("default", dataset="mnist", ipc=1, config=fast(epochs=1, runs=2), test_data=TEST)
    shipped = Path(distilled_datasets.__file__).parent / "defaults" / "mnist" / "model.safetensors"
    assert record["source"]["weights_sha256"] == sha256_file(shipped) and record["source"]["given"] == "default"
    assert record["complete"] and len(record["runs"]) == 2
    for r, (images, labels) in enumerate(trained_sets):  # run r: the shipped generator's set r
        ds = DistilledMNIST(ipc=1, seed=r)
        torch.testing.assert_close(images, uint8_to_normalized(ds.data, "mnist"), rtol=0, atol=0)
        assert torch.equal(labels, ds.targets)
    trained_sets.clear()
    whole = evaluate("whole", dataset="mnist", config=fast(epochs=1), train_data=TRAIN, test_data=TEST)
    assert whole["source"]["kind"] == "whole" and whole["ipc"] is None and whole["complete"]
    (images, labels), = trained_sets
    torch.testing.assert_close(images, uint8_to_normalized(TRAIN[0], "mnist"), rtol=0, atol=0)
    assert torch.equal(labels, TRAIN[1])


def test_run_directory_source_and_resample_protocol(mnist_generator_dir):
    fixed = evaluate(str(mnist_generator_dir), dataset="mnist", ipc=1, config=fast(epochs=1), test_data=TEST)
    assert fixed["source"]["location"] == str(mnist_generator_dir)
    resampled = evaluate(str(mnist_generator_dir), dataset="mnist", ipc=3, config=fast(epochs=2, protocol="resample"),
                         test_data=TEST)
    assert resampled["protocol"]["name"] == "resample"
    assert "not quantised" in resampled["protocol"]["training_images"]
    assert resampled["runs"][0]["steps"] == 2 and resampled["runs"][0]["training_images"] == 30


def test_bad_arguments_give_clear_errors(mnist_generator_dir):
    with pytest.raises(ValueError, match=r"protocol \(--protocol\) must be one of"):
        EvalConfig(protocol="sometimes")
    with pytest.raises(ValueError, match="unknown model"):
        EvalConfig(model="transformer")
    with pytest.raises(ValueError, match="ipc must be a positive int"):
        evaluate("random-real", dataset="mnist", ipc=0, config=fast(), train_data=TRAIN, test_data=TEST)
    with pytest.raises(ValueError, match="needs a generator source"):
        evaluate("random-real", dataset="mnist", ipc=1, config=fast(protocol="resample"), train_data=TRAIN,
                 test_data=TEST)
    with pytest.raises(ValueError, match="dataset is required"):
        evaluate("random-real", ipc=1, config=fast())
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate("random-real", dataset="imagenet", ipc=1, config=fast())
    with pytest.raises(ValueError, match="does not match"):
        evaluate(DistilledMNIST, dataset="cifar10", ipc=1, config=fast())
    with pytest.raises(ValueError, match="must not set"):
        evaluate(DistilledMNIST, ipc=1, config=fast(), dataset_kwargs={"seed": 3})
    with pytest.raises(ValueError, match="revision applies"):
        evaluate("random-real", dataset="mnist", ipc=1, revision="v1", config=fast())
    with pytest.raises(ValueError, match="device"):
        evaluate("random-real", dataset="mnist", ipc=1, config=fast(device="tpu:7"))


# ---- command line ------------------------------------------------------------------------------------


def test_cli_writes_one_json_per_ipc(tiny_mnist_root, tmp_path, capsys):
    out = tmp_path / "out" / "eval_ipc{ipc}.json"
    code = cli_main(["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "1", "2", "--runs", "1",
                     "--epochs", "1", "--data-root", str(tiny_mnist_root), "--out", str(out), "--device", "cpu",
                     "--label", "global+local", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    for ipc in (1, 2):
        saved = json.loads((tmp_path / "out" / f"eval_ipc{ipc}.json").read_text())
        assert saved["ipc"] == ipc and saved["method"] == "global+local"
        assert saved["test_split"] == {"images": 40, "available": 40, "root": str(tiny_mnist_root)}
        assert saved["command"].startswith("distilled-datasets ")
    assert "REDUCED" in printed and "global+local" in printed
    # An existing result is not overwritten by accident.
    code = cli_main(["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "1", "--runs", "1",
                     "--epochs", "1", "--data-root", str(tiny_mnist_root), "--out", str(out).replace("{ipc}", "1")])
    assert code == 2 and "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_cli_replaces_only_an_evaluation_record(tiny_mnist_root, mnist_generator_dir, tmp_path, capsys, flag):
    # Regression: evaluate --out GEN/model.safetensors --overwrite replaced the generator's weights.
    weights = mnist_generator_dir / "model.safetensors"
    before = weights.read_bytes()
    code = cli_main(["evaluate", "--dataset", "mnist", "--source", str(mnist_generator_dir), "--ipc", "1", "--runs", "1",
                     "--epochs", "1", "--data-root", str(tiny_mnist_root), "--out", str(weights), flag])
    err = capsys.readouterr().err
    assert code == 2 and "is not an evaluation record" in err and weights.read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["--source", "random-real", "--ipc", "1", "10", "--out", "x.json"], "{ipc}"),
    (["--source", "whole", "--ipc", "1"], "does not apply to --source whole"),
    (["--source", "random-real"], "--ipc is required"),
    (["--source", "random-real", "--ipc", "1", "--revision", "v2"], "revision applies"),
])
def test_cli_bad_arguments(argv, message, tmp_path, capsys):
    code = cli_main(["evaluate", "--dataset", "mnist", "--out-dir", str(tmp_path)] + argv)
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_missing_generator_names_the_source_option(tmp_path, capsys):
    code = cli_main(["evaluate", "--dataset", "mnist", "--source", str(tmp_path / "no" / "run"), "--ipc", "1",
                     "--out-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "--source" in err and "--repo-id" not in err


def test_cli_missing_data_says_where_to_put_it(tmp_path, capsys):
    code = cli_main(["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "1", "--runs", "1",
                     "--data-root", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path)])
    assert code == 2
    assert "download" in capsys.readouterr().err


# ---- the real data, when this machine has it ---------------------------------------------------------


def test_real_data_path(real_data_root, monkeypatch):
    monkeypatch.setenv("DISTILLED_DATASETS_DATA", str(real_data_root))  # the default root follows it
    root = Path(default_data_root())
    record = evaluate("random-real", dataset="mnist", ipc=1, config=fast(epochs=1, test_limit=200))
    assert record["test_split"] == {"images": 200, "available": 10000, "root": str(root)}
    assert any("first 200 of 10000" in r for r in record["protocol"]["reduced_reasons"])


def test_hardware_record():
    hw = describe_hardware("cpu")
    assert hw["device"] == "cpu" and hw["torch_threads"] == torch.get_num_threads()
    assert hw["cpu"] and hw["versions"]["distilled_datasets"]


def test_an_evaluation_that_trained_keeps_its_runs_when_out_becomes_unwritable(tmp_path, monkeypatch):
    """Regression: an evaluation that trained for minutes lost its result on an unwritable --out."""
    from distilled_datasets import files
    from distilled_datasets.errors import WriteError

    real_write = files.atomic_write_json

    def full_disk(path, record):
        if str(path) == str(tmp_path / "out.json"):
            raise WriteError(f"could not write {path}: [Errno 28] No space left on device")
        return real_write(path, record)

    monkeypatch.setattr(files, "atomic_write_json", full_disk)
    with pytest.raises(WriteError, match=r"No space left.*1 finished run\(s\) were kept in (\S+) ") as err:
        evaluate("random-real", dataset="mnist", ipc=2, config=fast(), out=tmp_path / "out.json",
                 train_data=TRAIN, test_data=TEST)
    kept = re.search(r"were kept in (\S+) ", str(err.value)).group(1)
    assert json.loads(Path(kept).read_text())["runs"][0]["run"] == 0
    Path(kept).unlink()


def test_an_unwritable_out_fails_before_any_training(tmp_path):
    from distilled_datasets.errors import WriteError

    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(WriteError, match="could not write"):
        evaluate("random-real", dataset="mnist", ipc=2, config=fast(), out=blocker / "out.json",
                 train_data=TRAIN, test_data=TEST)


# ---- which set each run trains on ----------------------------------------------------------------


def _readme_tables():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "readme_tables.py"
    spec = importlib.util.spec_from_file_location("readme_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _readme_cell(record):
    return _readme_tables().cell(record)


@pytest.fixture
def two_set_generator(make_generator, tmp_path):
    from distilled_datasets import SamplingConfig, save_repository

    generator = make_generator("mnist", sampling=SamplingConfig(chunk_size=4, latents=2, latent_sets=2))
    with torch.no_grad():
        generator.latents.normal_(generator=torch.Generator().manual_seed(5))
    return str(save_repository(generator, tmp_path / "two-sets"))


def test_run_r_trains_on_set_r_and_runs_past_the_sets_are_marked(two_set_generator, trained_sets):
    with pytest.warns(UserWarning, match="seed 2 gives seeded noise"):
        record = evaluate(two_set_generator, dataset="mnist", ipc=2, config=fast(runs=3, epochs=1), test_data=TEST)
    for r, (images, _) in enumerate(trained_sets):
        expected = DistilledMNIST(ipc=2, seed=r, repo_id=two_set_generator).data
        torch.testing.assert_close(images, uint8_to_normalized(expected, "mnist"), rtol=0, atol=0)
    sampling = record["protocol"]["sampling"]
    assert "run r trains on the set with dataset seed r" in sampling and "learned set r of the generator's 2" in sampling
    assert "runs 2 and up have no learned set" in sampling and "dataset_seed" not in record["protocol"]
    assert _readme_cell(record).endswith("(runs 2+ on seeded noise, not a learned set)")


def test_rows_of_a_replaced_default_are_named_by_its_weights(two_set_generator, monkeypatch):
    tables = _readme_tables()
    record = evaluate(two_set_generator, dataset="mnist", ipc=2, config=fast(epochs=1, label=tables.DEFAULT_METHOD),
                      test_data=TEST)
    assert tables.method_now(record) == tables.DEFAULT_METHOD
    monkeypatch.setitem(tables.EARLIER_DEFAULTS, record["source"]["weights_sha256"], "old recipe (earlier default)")
    assert tables.method_now(record) == "old recipe (earlier default)"
    assert tables.method_now({**record, "method": "global+local"}) == "global+local"  # only the default's rows move
    herding = {**record, "method": "global+local + herding (package default)"}  # a label of one default only
    assert tables.method_now(herding) == tables.EARLIER_LABELS[herding["method"]]


def test_dataset_seed_trains_every_run_on_one_set_and_says_so(two_set_generator, trained_sets, tmp_path):
    out = tmp_path / "one-set.json"
    record = evaluate(two_set_generator, dataset="mnist", ipc=2, config=fast(runs=2, epochs=1, dataset_seed=1),
                      test_data=TEST, out=out)
    expected = uint8_to_normalized(DistilledMNIST(ipc=2, seed=1, repo_id=two_set_generator).data, "mnist")
    assert len(trained_sets) == 2
    for images, _ in trained_sets:
        torch.testing.assert_close(images, expected, rtol=0, atol=0)
    assert [(r["seed"], r["dataset_seed"]) for r in record["runs"]] == [(0, 1), (1, 1)]
    proto = record["protocol"]
    assert proto["dataset_seed"] == 1 and proto["reduced"]
    assert any("every run trains on the set of dataset seed 1" in reason for reason in proto["reduced_reasons"])
    assert "learned set 1 of the generator's 2" in proto["sampling"] and proto["seeds"].startswith("every run: ")
    assert _readme_cell(record).endswith("(set 1 in every run)")
    # A resumed evaluation under another dataset seed is a different evaluation.
    with pytest.raises(ValueError, match="holds a different evaluation"):
        evaluate(two_set_generator, dataset="mnist", ipc=2, config=fast(runs=2, epochs=1, dataset_seed=0),
                 test_data=TEST, out=out, resume=True)


def test_dataset_seed_past_the_sets_and_on_real_subsets(two_set_generator, trained_sets):
    with pytest.warns(UserWarning, match="seed 7 gives seeded noise"):
        record = evaluate(two_set_generator, dataset="mnist", ipc=2, config=fast(epochs=1, dataset_seed=7),
                          test_data=TEST)
    assert "seeded noise (the generator holds 2 learned set(s))" in record["protocol"]["sampling"]
    assert _readme_cell(record).endswith("(seed 7 in every run, seeded noise)")
    real = evaluate("random-real", dataset="mnist", ipc=2, config=fast(runs=2, epochs=1, dataset_seed=3),
                    train_data=TRAIN, test_data=TEST)
    (_, _), (x0, _), (x1, _) = trained_sets
    assert torch.equal(x0, x1)  # one subset, seed 3, for both runs
    assert "seed 3 in every run" in real["protocol"]["sampling"]
    assert _readme_cell(real).endswith("(seed 3 in every run)")


def test_dataset_seed_is_checked(two_set_generator, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"dataset_seed \(--dataset-seed\) must be >= 0"):
        EvalConfig(dataset_seed=-1)
    with pytest.raises(ValueError, match=r"dataset_seed \(--dataset-seed\) applies to the fixed protocol"):
        EvalConfig(protocol="resample", dataset_seed=0)
    with pytest.raises(ValueError, match="--source whole has neither"):
        evaluate("whole", dataset="mnist", ipc=None, config=fast(dataset_seed=0), train_data=TRAIN, test_data=TEST)
    with pytest.raises(SystemExit) as exited:  # argparse refuses the value before anything runs
        cli_main(["evaluate", "--dataset", "mnist", "--source", two_set_generator, "--ipc", "1",
                  "--dataset-seed", "-1", "--out-dir", str(tmp_path)])
    assert exited.value.code == 2 and "--dataset-seed" in capsys.readouterr().err


def test_headline_rows_script_prints_one_valid_evaluation_per_run():
    # benchmarks/headline_rows.py: the queue lines that re-measure a default's rows must parse as evaluate
    # commands, one per run, each run r on its own part file (merged afterwards).
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from distilled_datasets.cli import build_parser

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "headline_rows.py"
    printed = subprocess.run([sys.executable, str(script), "commands", "--dataset", "cifar10"], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    parsed = [build_parser("evaluate").parse_args(shlex.split(line)[1:]) for line in printed]
    rows = {(a.model, tuple(a.ipc), a.runs, a.epochs) for a in parsed}
    assert rows == {("convnet3", (1,), 5, None), ("convnet3", (10,), 5, None), ("convnet3", (50,), 3, 300),
                    ("alexnet", (10,), 1, 300), ("resnet18", (10,), 1, 100), ("vgg11", (10,), 1, 300)}
    assert len(parsed) == 5 + 5 + 3 + 3 and len({a.out for a in parsed}) == len(parsed)
    assert all(len(a.run_indices) == 1 and a.data_root == "data/cifar10-jpeg" and a.source == "default"
               and a.original_test.endswith("CIFAR10-jpeg/canonical.npz") for a in parsed)  # as every CIFAR-10 row
    for record in (Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "eval" / "cifar10").glob(
            "learned-latents_fixed_*.json"):  # each row the script re-measures is a file it would write
        parts = record.stem.split("_")  # learned-latents_fixed_MODEL_ipcN[_Eep]
        epochs = int(parts[4][:-2]) if len(parts) > 4 else None
        assert (parts[2], (int(parts[3][3:])), epochs) in {(r[0], r[1][0], r[3]) for r in rows}, record.name
