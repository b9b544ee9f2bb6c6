"""Render the Wang et al. (2018) reproduction results (benchmarks/results/wang2018_*.json) as a
Markdown table, for the README. Every number comes from those files; a missing file is a row
that says so.

    python benchmarks/wang2018_table.py [--results benchmarks/results] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

RESULTS = Path(__file__).resolve().parent / "results"


def _load(folder: Path, name: str) -> Optional[Dict[str, Any]]:
    path = folder / f"wang2018_{name}.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _pm(summary: Optional[Dict[str, Any]], std: bool = True) -> str:
    if not summary:
        return "n/a"
    text = f"{summary['mean']:.1f}"
    return text + (f" ± {summary['std']:.1f}" if std and summary.get("n", 1) > 1 else "")


def _iters(record: Dict[str, Any]) -> str:
    cfg = record["config"]
    return f"{cfg['iterations']} iterations, batch {cfg['batch_size']}"


def rows(folder: Path) -> List[List[str]]:
    out = []
    basic = []
    for name, setting in (("fixed", "fixed init, 10 images (1 step x 3 epochs)"),
                          ("random", "random init, 100 images (10 steps x 3 epochs)")):
        basic.append((name, setting))
        # Other budgets of the same experiment: wang2018_mnist_<name>_<tag>.json (see --tag).
        for path in sorted(folder.glob(f"wang2018_mnist_{name}_*.json")):
            tag = path.stem[len(f"wang2018_mnist_{name}_"):]
            basic.append((f"{name}_{tag}", f"{setting}, budget '{tag}'"))
    for name, setting in basic:
        rec = _load(folder, f"mnist_{name}")
        if rec is None:
            out.append([f"MNIST, LeNet, {setting}", "", "", f"not run (wang2018_mnist_{name}.json missing)"])
            continue
        paper = rec["paper"]
        paper_text = f"{paper['accuracy']}" + (f" ± {paper['std']}" if "std" in paper else "")
        where = rec["protocol"]["evaluated_on"]
        extra = ""
        if name.startswith("fixed") and rec.get("heldout_inits"):
            extra = f"; same images on {rec['heldout_inits']['n']} other random inits: {_pm(rec['heldout_inits'])}"
        out.append([f"MNIST, LeNet, {setting}", paper_text, _pm(rec["accuracy"]),
                    f"{where}; before the steps {_pm(rec['accuracy_before_steps'])}; {_iters(rec)}{extra}"])
    for name, ipc in (("fixed", 1), ("random", 10)):
        path = folder / "eval" / "mnist" / f"wang2018-{name}_fixed_convnet3_ipc{ipc}.json"
        rec = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        label = f"same {10 * ipc} images ({name}-init set), package harness"
        if rec is None:
            out.append([label, "", "", f"not run ({path.name} missing)"])
            continue
        proto = rec["protocol"]
        acc = rec["accuracy"]
        aug = "DSA" if proto.get("augmentation") else "no augmentation"
        planned = proto.get("runs", acc["n"])
        runs = f"{acc['n']} run{'s' if acc['n'] != 1 else ''}"
        if not rec.get("complete"):
            runs += f" of the protocol's {planned} (stopped early; resume with --resume)"
        how = (f"{rec['model']}, {proto.get('epochs', '?')} epochs, {aug}, "
               f"{runs} (one stored set: runs differ in net init, batch order, augmentation); uint8 items "
               "trained with ordinary SGD, not the learned schedule")
        ours = f"{acc['mean']:.1f}" + (f" ± {acc['std']:.1f}" if acc["n"] > 1 else "")
        out.append([label, "—", ours, how])
    rec = _load(folder, "mnist_malicious")
    if rec is None:
        out.append(["MNIST malicious K→T", "", "", "not run (wang2018_mnist_malicious.json missing)"])
    else:
        p, s = rec["protocol"], rec["summary"]
        n = s["after"]["k_to_t"]["n"]
        out.append([f"MNIST malicious {p['attack_class']}→{p['target_class']}, one distilled step",
                    "—", f"K→T {_pm(s['before']['k_to_t'])} → {_pm(s['after']['k_to_t'])}",
                    f"class-K accuracy {_pm(s['before']['k_accuracy'])} → {_pm(s['after']['k_accuracy'])}; "
                    f"other classes {_pm(s['before']['other_accuracy'])} → {_pm(s['after']['other_accuracy'])}; "
                    f"{n} held-out trained LeNets; {_iters(rec)}"])
    rec = _load(folder, "mnist_to_fashion_adaptation")
    if rec is None:
        out.append(["adaptation MNIST→Fashion-MNIST", "", "", "not run (wang2018_mnist_to_fashion_adaptation.json "
                                                              "missing)"])
    else:
        out.append([f"adaptation MNIST→Fashion-MNIST, {rec['protocol']['steps']}", "—",
                    f"{_pm(rec['distilled'])}",
                    f"MNIST LeNets before: {_pm(rec['before'])}; same steps on a random real subset "
                    f"(rate {rec['baseline_lr']['best_lr']} chosen on validation): {_pm(rec['real_subset_baseline'])}; "
                    f"{rec['distilled']['n']} held-out nets; {_iters(rec)}"])
    return out


def render(folder: Path) -> str:
    lines = ["| Experiment | Paper (%) | Ours (%) | Protocol and notes |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows(folder)]
    hardware = None
    for name in ("mnist_fixed", "mnist_random"):
        rec = _load(folder, name)
        if rec is not None:
            hardware = rec["hardware"]
            break
    if hardware:
        lines.append("")
        lines.append(f"Measured on {hardware.get('cpu', '?')} ({hardware.get('cpu_cores', '?')} cores, shared), "
                     f"torch {hardware.get('versions', {}).get('torch', '?')}, {hardware.get('torch_threads', '?')} "
                     "thread(s); see each JSON in benchmarks/results/ for the command, seeds and what was reduced.")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=None, help="write the table here (default: stdout)")
    args = parser.parse_args(argv)
    table = render(args.results)
    if args.out is None:
        sys.stdout.write(table)
    else:
        args.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
