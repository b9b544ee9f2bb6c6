"""Training under torchrun on CPUs (gloo): two processes train what one process trains."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from distilled_datasets import DistilledMNIST, Generator
from distilled_datasets.training.common.checkpoint import load_checkpoint

TRAIN = ["train", "--dataset", "mnist", "--architecture", "small", "--width", "4", "--noise-dim", "8",
         "--stage1-batch-size", "8", "--stage2-batch-size", "8", "--stage1-d-width", "4", "--stage2-pool", "convnet3",
         "--stage2-lr-g", "1e-3", "--stage2-lr-d", "1e-3", "--device", "cpu", "--checkpoint-every", "1",
         "--sample-every", "1000", "--log-every", "1"]


def launch(nproc: int, argv, env) -> subprocess.CompletedProcess:
    if nproc == 1:
        command = [sys.executable, "-m", "distilled_datasets.cli", *argv]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   "-m", "distilled_datasets.cli", *argv]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.fixture
def env(tmp_path, make_mnist_root):
    root = make_mnist_root(tmp_path / "data", n=64)
    return {**os.environ, "DISTILLED_DATASETS_DATA": str(root), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
            "TQDM_DISABLE": "1"}


def test_two_processes_match_one_for_steps_of_the_same_global_batch(env, tmp_path):
    # Three steps, so that Adam's updates depend on the gradients' sizes, not only their signs.
    runs = {"one": (1, []), "two": (2, []), "other batches": (1, ["--seed", "1"])}
    states = {}
    for name, (nproc, extra) in runs.items():
        out = tmp_path / name.replace(" ", "_")
        launch(nproc, [*TRAIN, "--stage", "1", "--stage1-steps", "3", "--out", str(out), *extra], env)
        states[name] = load_checkpoint(out / "checkpoints" / "last.safetensors")

    def close(a, b):
        return all(torch.allclose(a[part][key].float(), b[part][key].float(), atol=1e-6, rtol=1e-4)
                   for part in ("generator", "discriminator") for key in a[part])

    assert close(states["one"], states["two"])  # BatchNorm statistics and gradients over the global batch
    assert not close(states["one"], states["other batches"])  # the tolerance tells other batches apart


def test_two_process_run_writes_a_loadable_generator_and_resumes(env, tmp_path):
    out = tmp_path / "run"
    done = launch(2, [*TRAIN, "--stage", "both", "--stage1-steps", "2", "--stage2-steps", "2", "--out", str(out)], env)
    assert done.stdout.count("generator saved to") == 1  # rank 0 wrote it and says so; the others stay quiet
    config = Generator.from_pretrained(out).metadata["training"]
    assert config["steps_done"] == 4
    saved = (out / "train_config.json").read_text()
    assert '"world_size": 2' in saved
    state = load_checkpoint(out / "checkpoints" / "last.safetensors")
    assert len(state["pool_by_rank"]) == 2  # each rank's pool model, trained on its share
    assert DistilledMNIST(repo_id=out, ipc=2)[3][1] == 3
    log_lines = (out / "log.jsonl").read_text().splitlines()
    assert len(log_lines) == 4  # one writer: rank 0
    launch(2, [*TRAIN, "--stage", "both", "--stage1-steps", "2", "--stage2-steps", "3", "--out", str(out),
               "--resume"], env)
    assert Generator.from_pretrained(out).metadata["training"]["steps_done"] == 5
    # select under torchrun: the selector trains on both ranks' shares, rank 0 writes.
    launch(2, ["select", str(out), "--out", str(tmp_path / "selected"), "--dataset", "mnist", "--candidates", "2",
               "--epochs", "1"], env)
    selected = Generator.from_pretrained(tmp_path / "selected")
    assert selected.sampling.candidates == 2 and DistilledMNIST(repo_id=tmp_path / "selected", ipc=1)[0][1] == 0


def test_latent_distillation_under_two_processes_matches_one_and_resumes(env, tmp_path, make_generator_dir):
    generator = make_generator_dir("mnist")
    latents = ["distill-latents", "--generator", str(generator), "--dataset", "mnist", "--latents", "4",
               "--prefixes", "1", "4", "--real-per-class", "3", "--embed-model", "lenet", "--device", "cpu",
               "--checkpoint-every", "1", "--log-every", "1", "--pool", "2", "--pool-life", "2"]
    for name, nproc, extra in (("one", 1, []), ("two", 2, []), ("other", 1, ["--seed", "1"])):
        done = launch(nproc, [*latents, "--iterations", "3", "--out", str(tmp_path / name), *extra], env)
        assert done.stdout.count("learned latents per class saved to") == 1
    codes = {name: Generator.from_pretrained(tmp_path / name).latents for name in ("one", "two", "other")}
    # Each rank matched half the classes; the summed gradients make every step the one-process step.
    assert torch.allclose(codes["one"], codes["two"], atol=1e-5)
    assert not torch.allclose(codes["one"], codes["other"], atol=1e-5)
    assert len((tmp_path / "two" / "log.jsonl").read_text().splitlines()) == 3  # one writer: rank 0
    launch(2, [*latents, "--iterations", "4", "--out", str(tmp_path / "two"), "--resume"], env)
    launch(1, [*latents, "--iterations", "4", "--out", str(tmp_path / "one"), "--resume"], env)
    assert torch.allclose(Generator.from_pretrained(tmp_path / "one").latents,
                          Generator.from_pretrained(tmp_path / "two").latents, atol=1e-5)
    assert Generator.from_pretrained(tmp_path / "two").metadata["training"]["latents"]["steps_done"] == 4


def test_a_global_batch_that_does_not_split_is_refused(env, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "distilled_datasets.cli", *TRAIN, "--stage", "1", "--stage1-steps", "1", "--stage1-batch-size", "7",
               "--out", str(tmp_path / "odd")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and "must be a multiple of the number of processes (2)" in done.stderr


def test_evaluation_runs_spread_over_processes_and_merge(env, tmp_path):
    # Learnable tiny data (class c lights patch c), so accuracies differ from run to run.
    from conftest import write_mnist_root
    from tiny_data import TEST, TRAIN

    root = write_mnist_root(tmp_path / "patches", splits={"train": (TRAIN[0].numpy(), TRAIN[1].numpy()),
                                                            "t10k": (TEST[0].numpy(), TEST[1].numpy())})
    env = {**env, "DISTILLED_DATASETS_DATA": str(root)}
    argv = ["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "2", "--runs", "3", "--epochs", "2",
            "--device", "cpu", "--no-progress"]
    launch(1, [*argv, "--out", str(tmp_path / "one.json")], env)
    launch(2, [*argv, "--out", str(tmp_path / "two.json")], env)
    import json

    one, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert two["complete"] and [r["run"] for r in two["runs"]] == [0, 1, 2]
    assert [r["accuracy"] for r in two["runs"]] == [r["accuracy"] for r in one["runs"]]
    assert len(two["merged_from"]) == 2  # rank 0 measured runs 0 and 2, rank 1 run 1
    assert sorted(p.name for p in tmp_path.glob("two.json*")) == ["two.json"]  # parts removed

    # --resume of the finished evaluation reuses every run (same timings: none was measured again).
    launch(2, [*argv, "--out", str(tmp_path / "two.json"), "--resume"], env)
    again = json.loads((tmp_path / "two.json").read_text())
    assert again["runs"] == two["runs"] and again["complete"]
    assert sorted(p.name for p in tmp_path.glob("two.json*")) == ["two.json"]
