"""Faults injected as a user would meet them: kill -9 during checkpoint writes, damaged and
truncated files of every kind the package reads, two writers at once, and refused commands --
nothing is lost, nothing wrong is accepted, every refusal names the file and leaves it as it was."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from distilled_datasets import DistilledMNIST, Generator
from distilled_datasets.cli import main as cli_main
from distilled_datasets.training.common.run_folder import RunLock
from distilled_datasets.training.common.checkpoint import CheckpointError, load_checkpoint

TRAIN = ["train", "--dataset", "mnist", "--stage", "both", "--architecture", "small", "--width", "4", "--noise-dim",
         "8", "--stage1-steps", "3", "--stage2-steps", "3", "--stage1-batch-size", "8", "--stage2-batch-size", "8",
         "--stage1-d-width", "4", "--stage2-pool", "convnet3", "--stage2-lr-g", "1e-3", "--stage2-lr-d", "1e-3",
         "--device", "cpu", "--checkpoint-every", "1", "--sample-every", "1000", "--log-every", "1"]

# A child that trains and SIGKILLs itself at the Nth call of a chosen point of the checkpoint
# write: inside the writer (a half-written temporary file), after the writer (before the rename),
# or right after the rename.
KILLER = textwrap.dedent("""
    import os, signal, sys
    import distilled_datasets.files as files
    point, nth = sys.argv[1], int(sys.argv[2])
    calls = {"n": 0}
    real_replace, real_atomic = files.os.replace, files.atomic_write

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def atomic_write(path, writer):
        if not str(path).endswith("last.safetensors"):
            return real_atomic(path, writer)
        calls["n"] += 1
        if calls["n"] != nth:
            return real_atomic(path, writer)
        if point == "mid-write":
            def half(tmp):
                writer(tmp)
                with open(tmp, "r+b") as f:
                    f.truncate(os.path.getsize(tmp) // 2)
                die()
            return real_atomic(path, half)
        if point == "before-rename":
            files.os.replace = lambda a, b: die()
            return real_atomic(path, writer)
        result = real_atomic(path, writer)  # after-rename
        die()
        return result

    files.atomic_write = atomic_write
    import distilled_datasets.training.common.checkpoint as ckpt
    ckpt.atomic_write = atomic_write
    from distilled_datasets.cli import main
    sys.exit(main(sys.argv[3:]))
""")


def weights(folder) -> dict:
    return Generator.from_pretrained(folder).weights_state()


@pytest.fixture
def data_env(tmp_path, make_mnist_root, monkeypatch):
    root = make_mnist_root(tmp_path / "data", n=32)
    monkeypatch.setenv("DISTILLED_DATASETS_DATA", str(root))
    return {**os.environ, "DISTILLED_DATASETS_DATA": str(root), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, make_mnist_root_module):
    """The reference: the same run, never killed."""
    root = make_mnist_root_module(tmp_path_factory.mktemp("data"), n=32)
    out = tmp_path_factory.mktemp("reference") / "run"
    env = {**os.environ, "DISTILLED_DATASETS_DATA": str(root), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "distilled_datasets.cli", *TRAIN, "--out", str(out)], env=env, check=True,
                   capture_output=True)
    return root, weights(out)


@pytest.mark.parametrize("point", ["mid-write", "before-rename", "after-rename"])
@pytest.mark.parametrize("nth", [1, 4])
def test_kill_during_checkpoint_write_then_resume_equals_an_uninterrupted_run(uninterrupted, tmp_path, point, nth):
    root, reference = uninterrupted
    env = {**os.environ, "DISTILLED_DATASETS_DATA": str(root), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLER, point, str(nth), *TRAIN, "--out", str(out)], env=env,
                            capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    leftovers = list((out / "checkpoints").glob(".*tmp*"))
    assert leftovers or point == "after-rename"  # a killed writer leaves its temporary file behind
    if (out / "checkpoints" / "last.safetensors").exists():
        load_checkpoint(out / "checkpoints" / "last.safetensors")  # whatever is there is complete
    done = subprocess.run([sys.executable, "-m", "distilled_datasets.cli", *TRAIN, "--out", str(out), "--resume"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not list((out / "checkpoints").glob(".*tmp*"))  # removed on the next start
    resumed = weights(out)
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)


# ---- damaged and truncated files --------------------------------------------------------------------


def digest(folder: Path) -> dict:
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


@pytest.mark.parametrize("name, damage, message", [
    ("model.safetensors", truncate, "model.safetensors"),
    ("model.safetensors", lambda p: p.write_bytes(b"\0" * 64), "model.safetensors"),
    ("config.json", truncate, "config.json"),
    ("config.json", lambda p: p.write_text("[1, 2]"), "config.json"),
    ("config.json", lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "generator": 3})), "config.json"),
])
def test_damaged_generator_files_are_refused_naming_them(mnist_generator_dir, name, damage, message, capsys):
    damage(mnist_generator_dir / name)
    before = digest(mnist_generator_dir)
    with pytest.raises(Exception) as err:
        DistilledMNIST(repo_id=mnist_generator_dir)
    assert message in str(err.value) and type(err.value).__module__ == "distilled_datasets.errors"
    code = cli_main(["info", "mnist", "--repo-id", str(mnist_generator_dir)])
    assert code == 2 and message in capsys.readouterr().err
    assert digest(mnist_generator_dir) == before  # refused: the files are as they were


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_weights_of_the_wrong_kind_are_refused(mnist_generator_dir, dtype):
    from safetensors.torch import load_file, save_file

    path = mnist_generator_dir / "model.safetensors"
    state = load_file(str(path))
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.ones_like(state[key], dtype=dtype)
    save_file(state, str(path))
    stored = {torch.int64: "I64", torch.bool: "BOOL", torch.uint8: "U8", torch.int32: "I32"}.get(dtype, str(dtype))
    with pytest.raises(ValueError, match=f"{key} is stored as '{stored}'"):
        Generator.from_pretrained(mnist_generator_dir)


def test_damaged_checkpoint_and_run_config_are_refused_naming_them(data_env, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out)]) == 0
    checkpoint = out / "checkpoints" / "last.safetensors"
    truncate(checkpoint)
    before = digest(out)
    with pytest.raises(CheckpointError, match=str(checkpoint)):
        load_checkpoint(checkpoint)
    assert cli_main([*TRAIN, "--out", str(out), "--resume"]) == 2
    assert str(checkpoint) in capsys.readouterr().err
    assert digest(out) == before  # the refused resume touched nothing
    truncate(out / "train_config.json")
    before = digest(out)
    assert cli_main([*TRAIN, "--out", str(out), "--resume"]) == 2
    assert "train_config.json" in capsys.readouterr().err
    assert digest(out) == before


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["stage1"].update(aux_weight="x"), "stage1.aux_weight (--stage1-aux-weight) must be a number, got 'x'"),
    (lambda c: c.update(seed="x"), "seed (--seed) must be an integer, got 'x'"),
    (lambda c: c["stage2"].update(dsa="yes"), "stage2.dsa (--stage2-dsa) must be true or false, got 'yes'"),
    (lambda c: c.update(stage2=[]), "these differ: stage2.batch_size"),  # the section lost: not this run
    (lambda c: c.clear(), "does not hold a training config"),
])
def test_an_edited_run_config_is_refused_naming_the_setting(data_env, tmp_path, capsys, edit, message):
    # Regressions: wrong types in train_config.json ended in tracebacks; an empty one resumed as the defaults.
    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out)]) == 0
    config = json.loads((out / "train_config.json").read_text())
    edit(config)
    (out / "train_config.json").write_text(json.dumps(config))
    before = digest(out)
    assert cli_main([*TRAIN, "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert digest(out) == before


def test_publish_results_that_are_not_evaluations_are_refused(mnist_generator_dir, tmp_path, capsys):
    png = mnist_generator_dir / "samples.png"
    code = cli_main(["publish", str(mnist_generator_dir), "--out", str(tmp_path / "pub"), "--results", str(png)])
    assert code == 2 and f"--results {png} is not an evaluation JSON" in capsys.readouterr().err
    assert not (tmp_path / "pub").exists()


# ---- refused commands leave everything as it was -----------------------------------------------------


def test_train_into_a_used_folder_needs_resume_or_overwrite(data_env, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out)]) == 0
    before = digest(out)
    assert cli_main([*TRAIN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err and digest(out) == before
    (out / "notes.txt").write_text("mine")
    assert cli_main([*TRAIN, "--out", str(out), "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files were replaced


def test_an_overwrite_that_cannot_start_keeps_the_previous_run(data_env, tmp_path, capsys):
    # Regression: --overwrite deleted the earlier run's files, then failed on missing data: nothing left.
    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out)]) == 0
    before = digest(out)
    assert cli_main([*TRAIN, "--out", str(out), "--overwrite", "--data-root", str(tmp_path / "no-data")]) == 2
    assert "was not found" in capsys.readouterr().err
    assert digest(out) == before and sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".lock"]
    assert cli_main([*TRAIN, "--out", str(out), "--overwrite", "--stage1-steps", "2"]) == 0  # one that starts
    assert digest(out) != before and sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".lock"]


def test_an_overwrite_killed_before_its_run_started_is_put_back(data_env, tmp_path, capsys):
    # The set-aside folder of a process that no longer exists holds the earlier run: the next command in the
    # folder restores it (a cleanup of temporaries would have deleted it).
    from distilled_datasets.files import ASIDE_KIND, temp_sibling

    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out)]) == 0
    before = digest(out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = temp_sibling(out / "previous-run", ASIDE_KIND)
    aside = aside.with_name(aside.name.replace(f"-{os.getpid()}-", f"-{int(dead.stdout)}-"))
    aside.mkdir()
    for name in os.listdir(out):
        if name not in (".lock", aside.name):
            os.replace(out / name, aside / name)
    assert digest(out) != before
    assert cli_main([*TRAIN, "--out", str(out)]) == 2  # the earlier run is back: a new one needs --overwrite
    assert "already holds" in capsys.readouterr().err
    assert digest(out) == before and not aside.exists()


def test_a_refused_run_leaves_other_processes_temporaries_alone(data_env, tmp_path, capsys):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    live = out / f".x.tmp-{os.getpid()}-0123abcd"  # a live writer's temporary
    live.write_text("being written")
    assert cli_main([*TRAIN, "--out", str(out)]) == 2
    assert "already holds" in capsys.readouterr().err and live.exists()


def test_a_run_refused_before_its_first_file_leaves_no_folder(data_env, tmp_path, capsys):
    out = tmp_path / "new" / "run"
    assert cli_main([*TRAIN, "--out", str(out), "--dataset", "foo"]) == 2
    assert "--dataset must be one of ['cifar10', 'fashion_mnist', 'mnist', 'imagefolder'], got 'foo'" in \
        capsys.readouterr().err
    # Fashion-MNIST is spelt as every other command takes it; its files are missing from this data root.
    assert cli_main([*TRAIN, "--out", str(out), "--dataset", "Fashion-MNIST"]) == 2
    assert "FashionMNIST (train split) was not found" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # every folder the refused run made is gone
    out.mkdir(parents=True)  # a folder the user made stays, as it was
    assert cli_main([*TRAIN, "--out", str(out), "--dataset", "fashion_mnist"]) == 2
    assert out.is_dir() and list(out.iterdir()) == []


@pytest.mark.parametrize("flags, setting", [
    (["--dataset", "fashion_mnist"], "dataset"),
    (["--architecture", "dim"], "architecture"),
    (["--stage", "1"], "stage"),
    (["--stage2-pool", "resnet10"], "stage2.pool"),
    (["--stage2-lambda-local", "0.5"], "stage2.lambda_local"),
])
def test_resume_refuses_another_run_naming_the_setting(data_env, tmp_path, capsys, flags, setting, make_mnist_root):
    make_mnist_root(Path(data_env["DISTILLED_DATASETS_DATA"]), name="FashionMNIST", n=32)
    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out), "--stage1-steps", "1", "--stage2-steps", "1"]) == 0
    before = digest(out)
    assert cli_main([*TRAIN, "--out", str(out), "--resume", *flags]) == 2
    assert setting in capsys.readouterr().err and digest(out) == before
    # What may change on resume: more steps of the stage still running (and logging).
    assert cli_main([*TRAIN, "--out", str(out), "--resume", "--stage1-steps", "1", "--stage2-steps", "2",
                     "--log-every", "2"]) == 0


def test_two_writers_of_one_run_folder(data_env, tmp_path, capsys):
    out = tmp_path / "run"
    with RunLock(out):
        assert cli_main([*TRAIN, "--out", str(out)]) == 2
    assert "another process is training" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == [".lock"]


def test_publish_never_replaces_a_run_folder_or_a_file(data_env, tmp_path, mnist_generator_dir, capsys):
    run = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(run)]) == 0
    before = digest(run)
    for out in (run, tmp_path / "somefile"):
        if out.name == "somefile":
            out.write_text("keep")
        assert cli_main(["publish", str(run), "--out", str(out), "--overwrite"]) == 2
        assert "choose another --out" in capsys.readouterr().err
    assert digest(run) == before and (tmp_path / "somefile").read_text() == "keep"
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    assert cli_main(["publish", str(mnist_generator_dir), "--out", str(taken)]) == 2
    assert "--overwrite" in capsys.readouterr().err and (taken / "mine.txt").read_text() == "keep"


def test_outputs_that_appear_while_a_command_works_are_not_overwritten(mnist_generator_dir, tmp_path, monkeypatch,
                                                                        capsys):
    import distilled_datasets.cli as cli_module

    real_export = cli_module._export_safetensors
    target = tmp_path / "data.safetensors"

    def export_then_race(dataset, args, out, tmp):
        real_export(dataset, args, out, tmp)
        target.write_bytes(b"someone else's")  # appears after the start-up check, before the move

    monkeypatch.setattr(cli_module, "_export_safetensors", export_then_race)
    code = cli_main(["export", "mnist", "--repo-id", str(mnist_generator_dir), "--ipc", "1", "--format",
                     "safetensors", "--out", str(target)])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"someone else's" and not list(tmp_path.glob(".data.safetensors*"))
    png = tmp_path / "grid.png"
    png.write_bytes(b"mine")
    assert cli_main(["preview", "mnist", "--repo-id", str(mnist_generator_dir), "--out", str(png)]) == 2
    assert png.read_bytes() == b"mine"


def test_a_file_system_without_hard_links_still_takes_new_outputs(mnist_generator_dir, tmp_path, monkeypatch,
                                                                     capsys):
    """Outputs go in with a hard link (which refuses an OUT that appeared meanwhile); where the file system
    has none (vfat, some network mounts: EPERM), a new file is moved in after a last look, never over one."""
    import errno

    def no_hard_links(src, dst, *args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    target = tmp_path / "data.safetensors"
    argv = ["export", "mnist", "--repo-id", str(mnist_generator_dir), "--ipc", "1", "--format", "safetensors",
            "--out", str(target)]
    assert cli_main(argv) == 0 and target.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    import distilled_datasets.cli as cli_module

    real_export = cli_module._export_safetensors

    def export_then_race(dataset, args, out, tmp):
        real_export(dataset, args, out, tmp)
        target.write_bytes(b"someone else's")  # appears after the start-up check, before the move

    target.unlink()
    monkeypatch.setattr(cli_module, "_export_safetensors", export_then_race)
    assert cli_main(argv) == 2 and target.read_bytes() == b"someone else's"
    assert "--overwrite" in capsys.readouterr().err


def test_unwritable_export_target_fails_before_synthesis(mnist_generator_dir, tmp_path, synthesis_calls, capsys):
    calls = synthesis_calls
    blocked = tmp_path / "file"
    blocked.write_text("x")
    code = cli_main(["export", "mnist", "--repo-id", str(mnist_generator_dir), "--format", "safetensors",
                     "--out", str(blocked / "sub" / "data.safetensors")])
    assert code == 2 and calls == [] and "Traceback" not in capsys.readouterr().err


def test_files_get_the_users_umask(mnist_generator_dir, tmp_path):
    old = os.umask(0o022)
    try:
        code = cli_main(["export", "mnist", "--repo-id", str(mnist_generator_dir), "--ipc", "1", "--format",
                         "safetensors", "--out", str(tmp_path / "data.safetensors")])
        assert code == 0
        from distilled_datasets import save_repository

        folder = save_repository(Generator.from_pretrained(mnist_generator_dir), tmp_path / "saved")
    finally:
        os.umask(old)
    for path in [tmp_path / "data.safetensors", *folder.iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_a_failed_write_reports_its_own_error_when_cleanup_fails_too(tmp_path, monkeypatch):
    """Regression: on a read-only disk the cleanup of the temporary raised over the write's own error."""
    from distilled_datasets import files

    def failing_writer(tmp):
        raise OSError(28, "No space left on device")

    real_unlink = Path.unlink

    def refusing_unlink(self, missing_ok=False):
        if self.name.startswith(".out.json.tmp-"):
            raise OSError(30, "Read-only file system")
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", refusing_unlink)
    with pytest.raises(files.WriteError, match="No space left on device"):
        files.atomic_write(tmp_path / "out.json", failing_writer)


def test_temporaries_of_killed_writers_are_removed_by_the_next_run(tmp_path, capsys, mnist_generator_dir):
    """Regression: a killed export or publish left hidden temporary folders (thousands of PNGs)."""
    import subprocess
    import sys

    from distilled_datasets.cli import main as cli_main

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid that no longer runs
    left = tmp_path / f".export.tmp-{dead}-0123abcd"
    (left / "0_zero").mkdir(parents=True)
    (left / "0_zero" / "0.png").write_bytes(b"half")
    alive = tmp_path / f".export.tmp-{os.getpid()}-4567cdef"  # a writer still running: left alone
    alive.mkdir()
    code = cli_main(["export", "mnist", "--repo-id", str(mnist_generator_dir), "--ipc", "1", "--out",
                     str(tmp_path / "export")])
    assert code == 0, capsys.readouterr().err
    assert not left.exists() and alive.exists()


def test_a_damaged_log_line_does_not_stop_a_resume(data_env, tmp_path, capsys):
    """Regression: a half-written (or edited) log.jsonl line made --resume end in a raw traceback."""
    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out)]) == 0
    with open(out / "log.jsonl", "a", encoding="utf-8") as log:
        log.write('{"step": 9, "g_lo')  # what a writer killed mid-line leaves
    more = [*TRAIN, "--out", str(out), "--resume"]
    more[more.index("--stage2-steps") + 1] = "4"  # one step more: the resume trains again
    assert cli_main(more) == 0, capsys.readouterr().err
    lines = (out / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 8))


def test_a_hub_id_with_a_trailing_newline_is_refused(capsys):
    from distilled_datasets.hub import resolve

    with pytest.raises(ValueError, match="neither an existing local folder nor a Hub id"):
        resolve("org/name\n", local_files_only=True)


@pytest.mark.parametrize("state", ['"not an object"', '{"__dict__": [["step", 1]]}', '[1, 2'])
def test_edited_checkpoint_metadata_is_refused_naming_the_checkpoint(data_env, tmp_path, capsys, state):
    """Regression: damaged checkpoint metadata ended --resume in a raw traceback."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    out = tmp_path / "run"
    assert cli_main([*TRAIN, "--out", str(out)]) == 0
    checkpoint = out / "checkpoints" / "last.safetensors"
    with safe_open(str(checkpoint), framework="pt") as f:
        tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    save_file(tensors, str(checkpoint), metadata={**metadata, "state": state})
    capsys.readouterr()  # the first run's progress bars
    assert cli_main([*TRAIN, "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert str(checkpoint) in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["train", "preview", "export-safetensors", "merge"])
def test_a_read_only_output_is_one_line_and_leaves_no_temporary(command, data_env, tmp_path, capsys, monkeypatch,
                                                              mnist_generator_dir):
    """Outputs on a read-only (or full) file system end in one line naming the output, exit code 2."""
    import errno

    from distilled_datasets.cli import main as cli_main

    ro = tmp_path / "ro"
    ro.mkdir()
    if command == "merge":  # two parts written first, then the merge's output is refused
        for r in (0, 1):
            assert cli_main(["evaluate", "--dataset", "mnist", "--source", "random-real", "--ipc", "1", "--runs", "2",
                             "--epochs", "1", "--device", "cpu", "--no-progress", "--run-indices", str(r),
                             "--out", str(tmp_path / f"part{r}.json")]) == 0
    capsys.readouterr()

    def refuse(real):
        def moved(src, dst, *args, **kwargs):
            if str(dst).startswith(str(ro)):
                raise OSError(errno.EROFS, "Read-only file system", str(dst))
            return real(src, dst, *args, **kwargs)
        return moved

    for name in ("replace", "rename", "link"):
        monkeypatch.setattr(os, name, refuse(getattr(os, name)))
    argv = {"train": [*TRAIN, "--out", str(ro / "run")],
            "preview": ["preview", "mnist", "--repo-id", str(mnist_generator_dir), "--out", str(ro / "grid.png")],
            "export-safetensors": ["export", "mnist", "--repo-id", str(mnist_generator_dir), "--format", "safetensors",
                                   "--out", str(ro / "set.safetensors")],
            "merge": ["merge-evaluations", str(tmp_path / "part0.json"), str(tmp_path / "part1.json"), "--out",
                      str(ro / "merged.json")]}[command]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: could not write") and "Read-only file system" in err
    assert list(ro.iterdir()) == []  # no temporary file or folder, and no half-made output
