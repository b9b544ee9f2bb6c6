"""Reproduce Wang et al. (2018), "Dataset Distillation", on MNIST, on this machine's CPU.

Experiments (each writes benchmarks/results/wang2018_<name>.json; the distilled sets of `fixed`
and `random` are kept next to them as runtime-loadable folders):

    fixed       LeNet, one known init, 10 images (1 step x 3 epochs)   paper: 93.8%
    random      LeNet, random inits, 100 images (10 steps x 3 epochs),
                tested on 200 held-out inits                           paper: 79.5 +- 8.1%
    malicious   MNIST classifiers, class K -> T poisoning (sec. 3.6): K->T rate and the other
                classes' accuracy before/after the distilled step, on held-out trained nets
    adaptation  MNIST classifiers adapted to Fashion-MNIST (sec. 3.5) vs the same steps on a
                random real subset (rate chosen on a validation split)
    harness     the fixed and random sets through the package's fixed-IPC harness (ConvNet3)

    python benchmarks/wang2018.py fixed [--iterations N] [--batch-size B] [--threads 1]

Defaults are the CPU budget (see each JSON's "reductions" for what differs from the paper).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_POOL = REPO / "runs" / "wang2018" / "pool_mnist_lenet"

PAPER = {
    "fixed": {"accuracy": 93.8, "where": "Wang et al. 2018, Fig. 2a / Table 1: MNIST, LeNet, fixed init, 10 images"},
    "random": {"accuracy": 79.5, "std": 8.1,
               "where": "Wang et al. 2018, Table 1: MNIST, LeNet, random init, 100 images (10 steps x 3 epochs)"},
}
# The paper's code (distill_basic on MNIST): Adam lr 0.01 (betas 0.5, 0.999) on pixels and rates,
# batch 1024, 400 epochs of MNIST (~23.4k iterations), rate x0.5 every 40 epochs, initial step
# size 0.02, xavier-normal init, one net per iteration.
PAPER_ITERATIONS = 400 * (60000 // 1024)


def _record(name: str, args, extra: Dict[str, Any]) -> Dict[str, Any]:
    from distilled_datasets import __version__
    from distilled_datasets.training.common.provenance import describe_hardware

    return {
        "format": "distilled-datasets/benchmark", "experiment": f"wang2018_{name}",
        "command": args.command or _command(),
        "hardware": describe_hardware("cpu"), "package_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def _command() -> str:
    from distilled_datasets.training.common.provenance import command_line

    return command_line()


def _write(name: str, record: Dict[str, Any], out_dir: Path) -> Path:
    from distilled_datasets.files import atomic_write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"wang2018_{name}.json"
    atomic_write_json(path, record)
    print(f"wrote {path}")
    return path


def _data(name: str, root: Path, train: bool = True):
    from distilled_datasets.training.common.real_data import load_tensors

    return load_tensors(name, root, train=train)


def _classes(name: str) -> List[str]:
    from distilled_datasets.training.commands.cli_wang import _classes as classes

    return classes(name)


def _reductions(cfg, paper_batch: int = 1024) -> List[str]:
    notes = []
    if cfg.iterations < PAPER_ITERATIONS:
        notes.append(f"{cfg.iterations} outer iterations instead of the paper's ~{PAPER_ITERATIONS} (400 epochs of "
                     f"MNIST at batch 1024): CPU budget")
    if cfg.batch_size != paper_batch:
        notes.append(f"real batch {cfg.batch_size} per iteration instead of {paper_batch}: CPU budget")
    return notes


def run_basic(name: str, args) -> int:
    """fixed / random: distil MNIST with LeNet, then apply the learned steps to the init(s)."""
    from distilled_datasets.training.common.model_zoo import build_model
    from distilled_datasets.training.wang2018.distill import distill
    from distilled_datasets.training.wang2018.distill_config import WangConfig
    from distilled_datasets.training.wang2018.heldout import evaluate_schedule, heldout_inits, heldout_seeds, summarize
    from distilled_datasets.training.wang2018.result_files import save_result

    fixed = name == "fixed"
    stem = f"mnist_{name}" + (f"_{args.tag}" if args.tag else "")
    folder = args.out_dir / f"wang2018_{stem}"
    cfg = WangConfig(dataset="mnist", model="lenet", mode=name, images_per_class=1 if fixed else 10,
                     steps=1 if fixed else 10, epochs=3, iterations=args.iterations or (8000 if fixed else 5000),
                     batch_size=args.batch_size or (512 if fixed else 256), nets_per_step=1, lr=0.01,
                     init_step_lr=0.02, init=args.init, seed=args.seed, init_seed=args.seed)
    x, y = _data("mnist", args.data_root)
    xt, yt = _data("mnist", args.data_root, train=False)
    model = build_model("lenet", 1, 10, 28)
    previous = None
    if args.evaluate_only:  # re-measure a saved result (same images, rates and init) with this code
        result, previous = _saved_result(folder, args.out_dir / f"wang2018_{stem}.json")
        cfg = result.config
    else:
        result = distill(cfg, model, x, y, 10, progress=not args.no_progress)
    start = time.perf_counter()
    evals: Dict[str, Any] = {}
    if fixed:
        evals["known_init"] = evaluate_schedule(model, result.images, result.labels, result.lrs, cfg.steps, cfg.epochs,
                                                [result.init], xt, yt, count=1, progress=False)
    # Fixed mode: the same images on other inits too (the paper's point that they do not transfer);
    # 50 nets are enough for that check.
    n_heldout = min(args.eval_nets, 50) if fixed else args.eval_nets
    evals["heldout_inits"] = evaluate_schedule(
        model, result.images, result.labels, result.lrs, cfg.steps, cfg.epochs,
        heldout_inits(model, n_heldout, cfg.init), xt, yt, count=n_heldout, progress=not args.no_progress)
    eval_seconds = time.perf_counter() - start
    main_eval = evals["known_init" if fixed else "heldout_inits"]
    accuracy = summarize(main_eval["after"])
    metrics = {"test_accuracy": accuracy, "test_accuracy_before": summarize(main_eval["before"]),
               "heldout_inits_accuracy": summarize(evals["heldout_inits"]["after"])}
    distilled_by = previous["command"] if previous is not None else (args.command or _command())
    save_result(result, folder, _classes("mnist"), metrics=metrics, command=distilled_by)
    record = _record(stem, args, {
        "paper": PAPER[name],
        "accuracy": accuracy,
        "accuracy_before_steps": summarize(main_eval["before"]),
        "protocol": {
            "model": "lenet", "init_distribution": cfg.init, "mode": name,
            "evaluated_on": ("the known (stored) init" if fixed else
                             f"{args.eval_nets} held-out inits (seeds from {heldout_seeds(1)[0]}; never drawn in "
                             "training)"),
            "use": "apply the learned steps and rates to the init (raw float images), test once on the full "
                   "real MNIST test split (10,000 images); no augmentation, no best-of",
            "std": "population std (ddof 0) over inits",
        },
        "config": cfg.to_dict(),
        "seeds": {"pixels_and_batches": cfg.seed, "fixed_init": cfg.init_seed if fixed else None,
                  "eval_inits": (f"{heldout_seeds(1)[0]} + 0..{n_heldout - 1}" if n_heldout else None)},
        "learning_rates": result.lrs.tolist(),
        "per_init": [{"before": b, "after": a} for b, a in zip(main_eval["before"], main_eval["after"])],
        "heldout_inits": summarize(evals["heldout_inits"]["after"]) if n_heldout else None,
        "heldout_per_init": evals["heldout_inits"]["after"] if fixed else None,
        "result_dir": str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else str(folder),
        "time": {"distill_seconds": round(result.seconds, 1), "eval_seconds": round(eval_seconds, 1)},
        "reductions": _reductions(cfg),
        "history": result.history,
    })
    if previous is not None:
        record["evaluation_rerun"] = {
            "why": args.evaluate_only,
            "distilled_by": previous.get("command"), "distilled_on": previous.get("created"),
            "previous_evaluation": {k: previous.get(k) for k in ("accuracy", "heldout_inits")},
        }
    _write(stem, record, args.out_dir)
    print(f"{name}: {accuracy['mean']:.2f} +- {accuracy['std']:.2f}% (paper {PAPER[name]['accuracy']}%)")
    return 0


def _saved_result(folder: Path, json_path: Path):
    """(DistillResult, previous JSON record) of a saved fixed/random run."""
    import json

    from distilled_datasets.training.wang2018.distill import DistillResult
    from distilled_datasets.training.wang2018.distill_config import WangConfig
    from distilled_datasets.training.wang2018.result_files import load_result

    learned = load_result(folder)
    with open(json_path, encoding="utf-8") as f:
        previous = json.load(f)
    training = {k: v for k, v in learned.config["training"].items() if k not in ("seconds", "history")}
    result = DistillResult(WangConfig.from_dict(training), learned.images, learned.labels, learned.lrs,
                           dict(learned.init) or None, previous["history"], previous["time"]["distill_seconds"])
    return result, previous


def _pool(args, x, y, test):
    """MNIST LeNets trained on real data: the first --pool-train for distillation, the next
    --pool-heldout only for evaluation."""
    from distilled_datasets.training.wang2018.pretrain import train_pool

    total = args.pool_train + args.pool_heldout
    pool = train_pool("lenet", 1, 10, 28, total, x, y, out=args.pool_dir, epochs=args.pool_epochs, test=test,
                      progress=not args.no_progress, dataset="mnist")
    return pool[:args.pool_train], pool[args.pool_train:]


def run_malicious(args) -> int:
    from distilled_datasets.training.common.model_zoo import build_model
    from distilled_datasets.training.wang2018.distill import distill
    from distilled_datasets.training.wang2018.distill_config import WangConfig
    from distilled_datasets.training.wang2018.heldout import summarize
    from distilled_datasets.training.wang2018.malicious import evaluate_attack, malicious_objective

    k, t = args.attack
    x, y = _data("mnist", args.data_root)
    xt, yt = _data("mnist", args.data_root, train=False)
    train_nets, heldout = _pool(args, x, y, (xt, yt))
    cfg = WangConfig(dataset="mnist", model="lenet", mode="pool", images_per_class=1, steps=1, epochs=1,
                     iterations=args.iterations or 1000, batch_size=args.batch_size or 512,
                     nets_per_step=2, lr=0.01, init_step_lr=0.02, seed=args.seed, malicious=(k, t))
    model = build_model("lenet", 1, 10, 28)
    result = distill(cfg, model, x, y, 10, pool=train_nets, objective=malicious_objective(k, t),
                     progress=not args.no_progress)
    res = evaluate_attack(model, result.images, result.labels, result.lrs, cfg.steps, cfg.epochs, heldout, xt, yt, k, t,
                          progress=not args.no_progress)
    summary = {when: {m: summarize([r[m] for r in res[when]]) for m in res[when][0]} for when in res}
    record = _record("mnist_malicious", args, {
        "protocol": {"attack_class": k, "target_class": t, "model": "lenet",
                     "pool": f"{args.pool_train} MNIST LeNets (default init, SGD lr 0.01 momentum 0.9, "
                             f"{args.pool_epochs} epoch(s)) for distillation; {args.pool_heldout} more, never seen, "
                             "for evaluation",
                     "use": "one distilled step (learned rate) applied to each held-out net; test on the full MNIST "
                            "test split",
                     "metrics": "k_to_t: % of class-K test images predicted T; other_accuracy: accuracy on the "
                                "classes other than K; std over held-out nets (ddof 0)"},
        "config": cfg.to_dict(), "learning_rates": result.lrs.tolist(),
        "summary": summary, "per_net": res,
        "time": {"distill_seconds": round(result.seconds, 1)},
        "reductions": ["short CPU run: small pools (the paper's p(theta_0) is a larger set of trained nets)",
                       *_reductions(cfg)],
        "history": result.history,
    })
    _write("mnist_malicious", record, args.out_dir)
    a, b = summary["after"], summary["before"]
    print(f"malicious {k}->{t}: K->T {b['k_to_t']['mean']:.1f}% -> {a['k_to_t']['mean']:.1f}%, other classes "
          f"{b['other_accuracy']['mean']:.1f}% -> {a['other_accuracy']['mean']:.1f}%")
    return 0


def run_adaptation(args) -> int:
    from distilled_datasets.training.common.model_zoo import build_model
    from distilled_datasets.training.wang2018.adaptation import (
        mean_accuracy,
        real_subset_schedule,
        split_validation,
        tune_baseline_lr,
    )
    from distilled_datasets.training.wang2018.distill import distill
    from distilled_datasets.training.wang2018.distill_config import WangConfig
    from distilled_datasets.training.wang2018.heldout import evaluate_schedule, summarize

    x, y = _data("mnist", args.data_root)
    xt, yt = _data("mnist", args.data_root, train=False)
    train_nets, heldout = _pool(args, x, y, (xt, yt))
    del x, y
    bx, by = _data("fashion_mnist", args.data_root)
    bxt, byt = _data("fashion_mnist", args.data_root, train=False)
    bx, by, vx, vy = split_validation(bx, by, 10000, seed=0)
    cfg = WangConfig(dataset="fashion_mnist", model="lenet", mode="pool", images_per_class=10, steps=1, epochs=3,
                     iterations=args.iterations or 2000, batch_size=args.batch_size or 256, nets_per_step=1,
                     lr=0.01, init_step_lr=0.02, seed=args.seed)
    model = build_model("lenet", 1, 10, 28)
    result = distill(cfg, model, bx, by, 10, pool=train_nets, progress=not args.no_progress)
    distilled = evaluate_schedule(model, result.images, result.labels, result.lrs, cfg.steps, cfg.epochs, heldout,
                                  bxt, byt, count=len(heldout), progress=False)
    grid = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
    tuned = tune_baseline_lr(model, train_nets, bx, by, cfg.images_per_class, 10, cfg.steps, cfg.epochs, grid, vx, vy,
                             subset_seeds=[100, 101, 102])
    baseline = []
    for seed in range(5):  # subsets 0..4 (not the tuning subsets), every held-out net
        images, labels = real_subset_schedule(bx, by, cfg.images_per_class, 10, seed)
        baseline += mean_accuracy(model, heldout, images, labels, tuned["best_lr"], cfg.steps, cfg.epochs, bxt, byt)
    record = _record("mnist_to_fashion_adaptation", args, {
        "protocol": {"source": "mnist", "target": "fashion_mnist", "model": "lenet",
                     "pool": f"{args.pool_train} MNIST LeNets for distillation, {args.pool_heldout} held-out MNIST "
                             "LeNets for evaluation",
                     "steps": f"{cfg.steps} step(s) x {cfg.epochs} epoch(s) on {10 * cfg.images_per_class} images",
                     "split": "Fashion-MNIST train minus a fixed random 10,000-image validation split: distillation "
                              "and baseline subsets use the rest; the baseline rate is chosen on the validation split; "
                              "all reported numbers are on the 10,000-image test split",
                     "baseline": f"same held-out nets, a random real subset of the same size (subset seeds 0-4), the "
                                 f"same step structure, one constant rate from {grid}"},
        "config": cfg.to_dict(), "learning_rates": result.lrs.tolist(),
        "before": summarize(distilled["before"]), "distilled": summarize(distilled["after"]),
        "real_subset_baseline": summarize(baseline), "baseline_lr": tuned,
        "per_net": {"before": distilled["before"], "distilled": distilled["after"], "baseline": baseline},
        "time": {"distill_seconds": round(result.seconds, 1)},
        "reductions": ["short CPU run; LeNet pools are small", *_reductions(cfg)],
        "history": result.history,
    })
    _write("mnist_to_fashion_adaptation", record, args.out_dir)
    print(f"adaptation MNIST->Fashion-MNIST: before {summarize(distilled['before'])['mean']:.1f}%, distilled "
          f"{summarize(distilled['after'])['mean']:.1f}%, real subset {summarize(baseline)['mean']:.1f}%")
    return 0


def harness_label(name: str) -> str:
    """The method name of a harness record (README results tables): "Wang 2018 (fixed init)"."""
    base, _, tag = name.partition("_")
    return f"Wang 2018 ({base} init{', ' + tag if tag else ''})"


def harness_path(out_dir: Path, name: str, ipc: int) -> Path:
    """Next to the other harness results: eval/mnist/<method>_<protocol>_<model>_ipc<N>.json."""
    return out_dir / "eval" / "mnist" / f"wang2018-{name.replace('_', '-')}_fixed_convnet3_ipc{ipc}.json"


def run_harness(args) -> int:
    """The fixed and random sets, as torchvision items, through the package's evaluation harness."""
    from distilled_datasets import DistilledMNIST
    from distilled_datasets.training.evaluation.harness import EvalConfig, evaluate

    for name in args.harness_sets:
        folder = args.out_dir / f"wang2018_mnist_{name}"
        ipc = len(DistilledMNIST(repo_id=folder)) // 10
        cfg = EvalConfig(label=harness_label(name), threads=args.threads, data_root=str(args.data_root),
                         epochs=args.harness_epochs, runs=args.harness_runs)
        out = harness_path(args.out_dir, name, ipc)
        if args.harness_run_indices:  # one part of the runs, e.g. a second process; merge-evaluations joins it
            out = out.with_name(out.stem + "".join(f"-run{r}" for r in sorted(set(args.harness_run_indices)))
                                + ".part.json")
        record = evaluate(DistilledMNIST, ipc=ipc, config=cfg, dataset_kwargs={"repo_id": str(folder)}, out=out,
                          resume=True, command=args.command or _command(), run_indices=args.harness_run_indices)
        acc = record["accuracy"]
        print(f"harness {name} (ipc {ipc}): {acc['mean']:.2f} +- {acc['std']:.2f}% -> {out}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=("fixed", "random", "malicious", "adaptation", "harness"))
    parser.add_argument("--iterations", type=int, default=None, help="outer iterations (default: per experiment)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="real batch per iteration (default: per experiment)")
    parser.add_argument("--init", choices=("default", "xavier"), default="xavier",
                        help="p(theta_0) for fixed/random (default xavier: the paper's code)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default=None, help="fixed/random: suffix of the result names (another budget)")
    parser.add_argument("--eval-nets", type=int, default=200, help="held-out random inits to evaluate on")
    parser.add_argument("--attack", type=int, nargs=2, default=(0, 1), metavar=("K", "T"))
    parser.add_argument("--pool-dir", type=Path, default=DEFAULT_POOL, help="cache of the trained MNIST LeNets")
    parser.add_argument("--pool-train", type=int, default=10)
    parser.add_argument("--pool-heldout", type=int, default=6)
    parser.add_argument("--pool-epochs", type=int, default=1)
    parser.add_argument("--harness-epochs", type=int, default=None, help="harness epochs (default: its 1000)")
    parser.add_argument("--harness-runs", type=int, default=5)
    parser.add_argument("--harness-run-indices", type=int, nargs="+", default=None,
                        help="measure only these harness runs, into <result>-runR.part.json (join the parts with "
                             "`distilled-datasets merge-evaluations`)")
    parser.add_argument("--harness-sets", nargs="+", default=["fixed", "random"],
                        help="which saved sets (wang2018_mnist_<NAME>) the harness evaluates")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--evaluate-only", default=None, metavar="WHY",
                        help="fixed/random: re-run only the evaluation of the saved result (WHY is recorded)")
    parser.add_argument("--command", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    if args.experiment in ("fixed", "random"):
        return run_basic(args.experiment, args)
    return {"malicious": run_malicious, "adaptation": run_adaptation, "harness": run_harness}[args.experiment](args)


if __name__ == "__main__":
    sys.exit(main())
