"""The accuracy experiment programme: every idea of the accuracy issue as a row, trained and
measured by the package's own commands, resumable across sessions.

Each experiment builds a generator folder under runs/programme/<dataset>/<name> (train, select,
distill-latents: the exact commands are below) and measures it with the harness into
benchmarks/results/eval/<dataset>/programme/<name>_ipc<N>.json (reduced protocol, labelled:
IPC 1 at 1000 epochs, IPC 10 and 50 at 300 epochs, 3 runs, every run on set 0: a row learns one set,
and a generator's seeds past its sets give raw seeded noise). A step whose output is complete is skipped,
so the script picks up where it stopped; several copies can run at once (one per core): each
takes the next experiment whose inputs are ready and that no other copy holds (file locks).

    python benchmarks/programme.py --dataset mnist --data-root ../shared/data      # run what is missing
    python benchmarks/programme.py --dataset mnist --list                          # what is done, what not
    python benchmarks/programme.py --dataset cifar10 --data-root data/cifar10-jpeg \
        --only c10-latents-trained-pool-1800-bf16 --processes 2                    # one long row on both cores
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
EVAL_EPOCHS = {1: 1000, 10: 300, 50: 300}
RUNS = 3


@dataclass
class Experiment:
    name: str
    label: str  # the row's name in the README table (the evaluation's method label)
    build: List[List[str]]  # distilled-datasets commands; "{out}", "{runs}", "{data}" are filled in
    needs: Tuple[str, ...] = ()  # experiments whose generator folders this one starts from
    ipcs: Tuple[int, ...] = (10,)
    evaluate: bool = True
    datasets: Tuple[str, ...] = ("mnist", "fashion_mnist")


S1_STEPS = {"mnist": 20000, "fashion_mnist": 20000}
STAGE2 = ["--stage", "2", "--architecture", "small", "--stage1-d-width", "32", "--stage2-steps", "600",
          "--stage2-batch-size", "32", "--stage2-lr-g", "2e-5", "--stage2-lr-d", "2e-5", "--checkpoint-every", "200",
          "--sample-every", "600"]
CPU_POOL = ["--stage2-pool", "convnet3", "resnet10"]
P10 = ["--latents", "10", "--prefixes", "10", "--iterations", "300"]
# The shipped defaults' latent recipe (their config.json, training.latents) and synthesis scheme.
SHIPPED = ["--latents", "50", "--prefixes", "1", "10", "50", "--chunk-size", "10", "--layout", "class_rows"]
# CIFAR-10's generator: measured, not taken from MNIST (benchmarks/cifar10_size.py).
C10_WIDTH = 24
C10_STAGE1_STEPS = 10000
C10_NET = ["--architecture", "small", "--width", str(C10_WIDTH), "--stage1-d-width", "32"]
C10_LATENTS = ["--latents", "50", "--prefixes", "1", "10", "50", "--iterations", "600", "--chunk-size", "10",
               "--layout", "class_rows"]
# What every evaluation of a dataset adds: CIFAR-10's JPEG copy is measured against its originals.
EVAL_EXTRA = {"cifar10": ["--original-test", "{canonical}"]}


def stage2(name: str, label: str, *flags: str, ipcs=(10,), datasets=("mnist",)) -> Experiment:
    return Experiment(name, label, [["train", "--out", "{out}", "--init-from", "{runs}/stage1-20k", *STAGE2, *flags]],
                      needs=("stage1-20k",), ipcs=ipcs, datasets=datasets)


def latents(name: str, label: str, source: str, *flags: str, ipcs=(1, 10), datasets=("mnist",)) -> Experiment:
    iterations = [] if "--iterations" in flags else ["--iterations", "600"]
    return Experiment(name, label, [["distill-latents", "--generator", f"{{runs}}/{source}", "--out", "{out}",
                                     *iterations, *flags]], needs=(source,), ipcs=ipcs, datasets=datasets)


def selection(name: str, label: str, *flags: str, datasets=("mnist",)) -> Experiment:
    return Experiment(name, label, [["select", "{runs}/earlier-default", "--out", "{out}", *flags]],
                      needs=("earlier-default",), ipcs=(1, 10), datasets=datasets)


EXPERIMENTS: List[Experiment] = [
    # The stage-2 network of the package default before this programme (git 34503d3, taken from git: stage 1 for
    # 5-6.5k steps, stage 2 with lambda 0.1 / 0.01), without its herding selection: the base of the
    # selection and latent rows. Its evaluation is the "no selection" row.
    Experiment("earlier-default", "no selection: the earlier default's stage-2 generator (1x synthesis)",
               [["select", "{default}", "--out", "{out}", "--candidates", "1", "--noise-scale", "1.0"]],
               ipcs=(1, 10)),
    Experiment("stage1-20k", "stage 1: cGAN, 20k steps (the earlier recipe: 5-6.5k)",
               [["train", "--out", "{out}", "--stage", "1", "--architecture", "small", "--stage1-batch-size", "64",
                 "--stage1-d-width", "32", "--stage1-steps", "{s1_steps}", "--checkpoint-every", "500",
                 "--sample-every", "5000"]], ipcs=(1, 10)),
    # Stage-2 weights from the paper's up to where matching dominates, and matching alone.
    stage2("s2-paper", "stage 2: lambda 0.01 / 0.001 (paper)", "--stage2-lambda-global", "0.01",
           "--stage2-lambda-local", "0.001", *CPU_POOL),
    stage2("s2-cpu-recipe", "stage 2: lambda 0.1 / 0.01 (the earlier CPU recipe)", "--stage2-lambda-global", "0.1",
           "--stage2-lambda-local", "0.01", *CPU_POOL, ipcs=(1, 10), datasets=("mnist", "fashion_mnist")),
    stage2("s2-lambda-1", "stage 2: lambda 1 / 0.1", "--stage2-lambda-global", "1", "--stage2-lambda-local", "0.1",
           *CPU_POOL),
    stage2("s2-lambda-10", "stage 2: lambda 10 / 1", "--stage2-lambda-global", "10", "--stage2-lambda-local", "1",
           *CPU_POOL),
    stage2("s2-matching-alone", "stage 2: matching alone (no cGAN loss), lambda 1 / 0.1", "--stage2-gan-weight", "0",
           "--stage2-lambda-global", "1", "--stage2-lambda-local", "0.1", *CPU_POOL),
    # Pool models that carry class structure when matched through.
    stage2("s2-online-20", "stage 2: pool models trained 20 online steps per draw", "--stage2-lambda-global", "0.1",
           "--stage2-lambda-local", "0.01", "--stage2-online-steps", "20", *CPU_POOL),
    stage2("s2-reinit-50", "stage 2: pool models kept 50 draws (several stages of training)",
           "--stage2-lambda-global", "0.1", "--stage2-lambda-local", "0.01", "--stage2-reinit-every", "50", *CPU_POOL),
    # A loss on draws of the deployment size: class means over a 100-image batch (IPC 10 x 10 classes).
    stage2("s2-class-mean-100", "stage 2: class-mean matching on 100-image draws", "--stage2-lambda-global", "0.1",
           "--stage2-lambda-local", "0.01", "--stage2-match", "class_mean", "--stage2-batch-size", "100", *CPU_POOL),
    # Selection that keeps coverage (synthesis cost: candidates x a plain generator's).
    selection("select-truncation", "selection: truncation (noise x 0.7), 1x synthesis", "--candidates", "1",
              "--noise-scale", "0.7"),
    selection("select-herding", "selection: herding, 1 in 8 (8x synthesis)", "--candidates", "8"),
    selection("select-kcenter", "selection: k-center, 1 in 8 (8x synthesis)", "--candidates", "8",
              "--selection", "kcenter"),
    selection("select-mix", "selection: herding/k-center mix, 1 in 8 (8x synthesis)", "--candidates", "8",
              "--selection", "mix"),
    # Learned latent codes (1x synthesis): losses on the deployment prefixes themselves.
    latents("latents-dm", "latents: distribution matching, prefixes 1/10/50 (1x synthesis)", "earlier-default",
            ipcs=(1, 10, 50), datasets=("mnist", "fashion_mnist")),
    # Variants, compared at IPC 10 on a cheaper base: 10 codes per class, prefix 10, 300 steps.
    latents("latents-p10", "latents (10 codes, prefix 10, 300 steps): distribution matching", "earlier-default",
            *P10, ipcs=(10,), datasets=("mnist", "fashion_mnist")),
    latents("latents-p10-local", "latents (10 codes, prefix 10, 300 steps): + block1/block2 features (local detail)",
            "earlier-default", *P10, "--match-layers", "embed", "block1", "block2", ipcs=(10,)),
    latents("latents-p10-4-nets", "latents (10 codes, prefix 10, 300 steps): 4 networks per step", "earlier-default",
            *P10, "--nets-per-step", "4", ipcs=(10,)),
    latents("latents-p10-trained-pool", "latents (10 codes, prefix 10, 300 steps): through 8 networks trained online",
            "earlier-default", *P10, "--pool", "8", "--pool-steps", "2", "--pool-life", "100", ipcs=(10,)),
    latents("latents-p10-generator", "latents (10 codes, prefix 10, 300 steps): generator weights learned too",
            "earlier-default", *P10, "--lr-generator", "1e-4", ipcs=(10,), datasets=("mnist", "fashion_mnist")),
    latents("latents-p10-gm", "latents (10 codes, prefix 10, 300 steps): gradient matching instead", "earlier-default",
            *P10, "--loss", "gradient", ipcs=(10,)),
    latents("latents-dm-stage1-20k", "latents: distribution matching on the 20k-step stage 1 + stage 2",
            "s2-cpu-recipe", ipcs=(1, 10), datasets=("mnist", "fashion_mnist")),
    # Above the pixel methods (issue 20), each at the shipped size (50 codes, prefixes 1/10/50, 600 steps) on the
    # shipped generator (frozen unless said), so that a row beside "latents-dm" changes one thing.
    latents("latents-stem", "latents in the stem feature map (GLaD-like deeper codes)", "earlier-default", *SHIPPED,
            "--code-layer", "stem", ipcs=(1, 10, 50), datasets=("mnist", "fashion_mnist")),
    latents("latents-up1", "latents in the up1 feature map (deeper still)", "earlier-default", *SHIPPED,
            "--code-layer", "up1", ipcs=(1, 10, 50), datasets=("mnist", "fashion_mnist")),
    latents("latents-trained-pool", "latents through 8 networks trained online, kept 100 draws (several stages)",
            "earlier-default", *SHIPPED, "--pool", "8", "--pool-steps", "2", "--pool-life", "100", ipcs=(1, 10),
            datasets=("mnist", "fashion_mnist")),
    # The row above in bf16 autocast (--precision: faster steps, benchmarks/latents_speed.py), from the same seed and so
    # the same draws: whether the cheaper arithmetic learns as good a set.
    latents("latents-trained-pool-bf16", "latents through 8 networks trained online, kept 100 draws, bf16 autocast",
            "earlier-default", *SHIPPED, "--pool", "8", "--pool-steps", "2", "--pool-life", "100",
            "--precision", "bf16", ipcs=(1, 10), datasets=("mnist", "fashion_mnist")),
    latents("latents-trained-pool-1800", "latents through trained networks, 1800 iterations (3x)", "earlier-default",
            *SHIPPED, "--pool", "8", "--pool-steps", "2", "--pool-life", "100", "--iterations", "1800",
            ipcs=(1, 10, 50), datasets=("mnist", "fashion_mnist")),
    # The best row in bf16 autocast, for the datasets whose 1800 iterations have not run in float32.
    latents("latents-trained-pool-1800-bf16", "latents through trained networks, 1800 iterations (3x), bf16 autocast",
            "earlier-default", *SHIPPED, "--pool", "8", "--pool-steps", "2", "--pool-life", "100",
            "--iterations", "1800", "--precision", "bf16", ipcs=(1, 10, 50), datasets=("mnist",)),
    # The control of the float32 1800-iteration row: its iterations through fresh networks, so that the two rows split
    # the gain into what the trained networks give and what the longer run gives.
    latents("latents-dm-1800", "latents through fresh networks, 1800 iterations (3x)", "earlier-default", *SHIPPED,
            "--iterations", "1800", ipcs=(1, 10, 50), datasets=("mnist", "fashion_mnist")),
    latents("latents-generator", "latents with the generator fine-tuned on this one set (rate 1e-4)",
            "earlier-default", *SHIPPED, "--lr-generator", "1e-4", ipcs=(1, 10, 50),
            datasets=("mnist", "fashion_mnist")),
    latents("latents-local-2-nets", "latents: + block1/block2 features, 2 networks per step", "earlier-default",
            *SHIPPED, "--match-layers", "embed", "block1", "block2", "--nets-per-step", "2", ipcs=(1, 10),
            datasets=("mnist", "fashion_mnist")),
    latents("latents-gm", "latents: gradient matching on the deployment-size draws (prefixes 1/10/50)",
            "earlier-default", *SHIPPED, "--loss", "gradient", ipcs=(1, 10), datasets=("mnist", "fashion_mnist")),
    # CIFAR-10 (the JPEG copy): what each stage buys. The generator's width and stage-1 length were chosen by
    # benchmarks/cifar10_size.py (README: "CIFAR-10").
    Experiment("c10-stage1", f"stage 1: cGAN, width {C10_WIDTH}, {C10_STAGE1_STEPS // 1000}k steps",
               [["train", "--out", "{out}", "--stage", "1", *C10_NET, "--stage1-batch-size", "64",
                 "--stage1-steps", str(C10_STAGE1_STEPS), "--checkpoint-every", "500", "--sample-every", "1000"]],
               ipcs=(1, 10), datasets=("cifar10",)),
    Experiment("c10-s2-paper", "stage 2: lambda 0.01 / 0.001 (paper), pool convnet3 + resnet10, 600 steps",
               [["train", "--out", "{out}", "--init-from", "{runs}/c10-stage1", "--stage", "2", *C10_NET,
                 "--stage2-steps", "600", "--stage2-batch-size", "32", "--stage2-lr-g", "2e-5", "--stage2-lr-d", "2e-5",
                 "--stage2-lambda-global", "0.01", "--stage2-lambda-local", "0.001", *CPU_POOL,
                 "--checkpoint-every", "100", "--sample-every", "600"]],
               needs=("c10-stage1",), ipcs=(1, 10), datasets=("cifar10",)),
    latents("c10-latents", "latents: distribution matching, prefixes 1/10/50 (1x synthesis)", "c10-s2-paper",
            *C10_LATENTS, ipcs=(1, 10), datasets=("cifar10",)),
    latents("c10-latents-generator", "latents: distribution matching, prefixes 1/10/50, generator weights learned too",
            "c10-s2-paper", *C10_LATENTS, "--lr-generator", "1e-4", ipcs=(1, 10), datasets=("cifar10",)),
    # The best recipe on the shipped generator, frozen (the network fine-tuned with the first CIFAR-10 default's
    # set 0, which decodes every shipped set; the codes start from its seeded noise, never from the shipped sets),
    # so its run is the same whether the default holds the earlier sets or its own. It became set 0 of the default.
    Experiment("c10-latents-trained-pool-1800-bf16",
               "latents through trained networks, 1800 iterations, bf16 autocast, on the shipped generator (frozen)",
               [["distill-latents", "--generator", "{shipped}", "--out", "{out}", *SHIPPED, "--pool", "8",
                 "--pool-steps", "2", "--pool-life", "100", "--iterations", "1800", "--precision", "bf16"]],
               ipcs=(1, 10, 50), datasets=("cifar10",)),
]


def folder(runs: Path, name: str) -> Path:
    return runs / name


def built(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def eval_path(dataset: str, name: str, ipc: int) -> Path:
    return REPO / "benchmarks" / "results" / "eval" / dataset / "programme" / f"{name}_ipc{ipc}.json"


def evaluated(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text()).get("complete"))
    except (OSError, json.JSONDecodeError):
        return False


def launcher(processes: int) -> List[str]:
    """What a step's command runs under: this interpreter, in one process or in ``processes`` under torchrun
    (every command of the package runs under torchrun unchanged; a distill-latents step there is the step of
    one process)."""
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return [sys.executable, *(torchrun if processes > 1 else []), "-m", "distilled_datasets.cli"]


def cli(argv: List[str], data_root: str, processes: int = 1) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DISTILLED_DATASETS_DATA": data_root, "PYTHONWARNINGS": "ignore",
           "TQDM_DISABLE": "1"}  # logs, not progress bars
    command = launcher(processes) + argv
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env)


def steps(exp: Experiment, dataset: str, runs: Path, data_root: str,
          canonical: str = "") -> List[Tuple[str, List[str], Path]]:
    """(kind, argv, output) of every step of ``exp``; done steps are skipped by the caller."""
    out = folder(runs, exp.name)
    fill = {"{out}": str(out), "{runs}": str(runs), "{s1_steps}": str(S1_STEPS.get(dataset, "")),
            "{default}": str(runs / "earlier-default-source"),
            "{shipped}": str(REPO / "distilled_datasets" / "defaults" / dataset)}
    result = []
    for argv in exp.build:
        argv = [fill.get(a, a.replace("{runs}", str(runs))) for a in argv]
        if argv[0] in ("train", "distill-latents"):
            argv += ["--dataset", dataset, "--device", "cpu"]
        elif argv[0] == "select":
            argv += ["--dataset", dataset]
        resume = argv[0] in ("train", "distill-latents") and (out / "checkpoints").is_dir()
        result.append(("build", argv + (["--resume"] if resume else []), out))
    for ipc in exp.ipcs if exp.evaluate else ():
        path = eval_path(dataset, exp.name, ipc)
        extra = [a.replace("{canonical}", canonical) for a in EVAL_EXTRA.get(dataset, [])]
        argv = ["evaluate", "--dataset", dataset, "--source", str(out), "--ipc", str(ipc), "--runs", str(RUNS),
                "--epochs", str(EVAL_EPOCHS[ipc]), "--dataset-seed", "0", "--threads", "1", "--no-progress",
                "--label", exp.label,
                "--out", str(path), "--resume", *extra]
        result.append(("evaluate", argv, path))
    return result


def earlier_default_source(runs: Path, dataset: str) -> None:
    """The earlier package default (git 34503d3), extracted beside the runs for "{default}"."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_defaults import extract_earlier_default

    if not built(runs / "earlier-default-source"):
        extract_earlier_default(dataset, runs / "earlier-default-source")


def done(kind: str, path: Path) -> bool:
    return built(path) if kind == "build" else evaluated(path)


def try_lock(runs: Path, name: str):
    runs.mkdir(parents=True, exist_ok=True)
    handle = open(runs / f".{name}.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return handle
    except OSError:
        handle.close()
        return None


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=("mnist", "fashion_mnist", "cifar10"))
    parser.add_argument("--data-root", default=os.environ.get("DISTILLED_DATASETS_DATA", "data"),
                        help="torchvision root, or for cifar10 the unpacked JPEG copy (data/cifar10-jpeg)")
    parser.add_argument("--canonical", default=str(REPO.parent / "shared" / "data" / "CIFAR10-jpeg" / "canonical.npz"),
                        help="cifar10: the JPEG copy's canonical.npz, whose original test pixels every evaluation "
                             "is also tested on")
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "programme"))
    parser.add_argument("--only", nargs="+", default=None, help="these experiments only, taken in this order")
    parser.add_argument("--list", action="store_true", help="show each experiment's state and exit")
    parser.add_argument("--build-only", action="store_true",
                        help="build the generators, leave their evaluations to another copy (the critical path first)")
    parser.add_argument("--processes", type=int, default=1,
                        help="run each step under torchrun with this many processes of one thread each (e.g. one "
                             "per core for a row too long for one session on one core)")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, not {args.processes}")
    runs = Path(args.runs_dir) / args.dataset
    by_name = {e.name: e for e in EXPERIMENTS}
    unknown = sorted(set(args.only or ()) - set(by_name))
    if unknown:
        parser.error(f"--only: unknown experiments {unknown}; valid values: {sorted(by_name)}")
    chosen = [e for e in ([by_name[n] for n in args.only] if args.only else EXPERIMENTS) if args.dataset in e.datasets]
    if args.list:
        for exp in chosen:
            states = [f"{kind} {'done' if done(kind, path) else 'missing'}"
                      for kind, _, path in steps(exp, args.dataset, runs, args.data_root, args.canonical)]
            print(f"{exp.name}: {', '.join(states)}")
        return 0
    remaining = list(chosen)
    while remaining:
        progressed = False
        for exp in list(remaining):
            wanted = [(kind, step, path) for kind, step, path in steps(exp, args.dataset, runs, args.data_root,
                                                                       args.canonical)
                      if kind == "build" or not args.build_only]
            if all(done(kind, path) for kind, _, path in wanted):
                remaining.remove(exp)
                continue
            if not all(built(folder(runs, need)) for need in exp.needs):
                continue  # its input is being built by another copy, or comes later
            lock = try_lock(runs, exp.name)
            if lock is None:
                continue
            try:
                for kind, step, path in wanted:
                    if not done(kind, path):
                        if str(runs / "earlier-default-source") in step:
                            earlier_default_source(runs, args.dataset)
                        cli(step, args.data_root, args.processes)
            finally:
                lock.close()
            progressed = True
            break
        if not progressed and remaining:
            time.sleep(30)  # every remaining experiment waits on another copy
    return 0


if __name__ == "__main__":
    sys.exit(main())
