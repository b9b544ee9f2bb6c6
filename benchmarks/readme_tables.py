"""Render the README's and docs/results.md's tables from the committed JSON files, between marker lines:

    <!-- BEGIN generated:NAME -->  ...  <!-- END generated:NAME -->

NAME is one of: headline, seeds and speed (the README's summaries), results (distillation accuracy: fixed
protocol, resample, cross-architecture, lambda_local ablation), programme, leverage, synthesis
(benchmarks/results/synthesis.json), training-speed, distributed-speed, wang2018
(benchmarks/wang2018_table.py). Generated text names no machine-specific path.

    python benchmarks/readme_tables.py           # rewrite README.md and docs/results.md in place
    python benchmarks/readme_tables.py --check   # exit 1 if a page is not what the JSON gives
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from distilled_datasets.training.evaluation.records import check_record

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
PAGES = (README, HERE.parent / "docs" / "results.md")
EVAL_FORMAT = "distilled-datasets/evaluation"

# CIFAR-10 is measured on the JPEG (quality 75) copy of these machines: every title says so.
DATASETS = [("mnist", "MNIST"), ("fashion_mnist", "Fashion-MNIST"), ("cifar10", "CIFAR-10 (JPEG q75 copy)")]
# The project's own targets for its shipped defaults (its design document's "Anchors and targets"; not
# published figures), ConvNet3, fixed protocol, IPC 1 / 10 / 50.
TARGETS = {"mnist": (95.0, 99.0, 99.4), "fashion_mnist": (82.0, 89.0, 91.0), "cifar10": (50.0, 68.0, 76.0)}
# Each dataset's bar: the shipped default at or above these published figures (method, IPC).
BARS = {"mnist": (("DSA", 10),), "fashion_mnist": (("DSA", 10),), "cifar10": (("DSA", 1), ("DM", 10))}
# Published figures were measured on the original data; where the measured rows are on a copy, say so.
PUBLISHED_DATA = {"cifar10": ", real data"}
IPCS = (1, 10, 50)
FLOOR_POINTS = 2.0  # the accuracy issue's floor: every cell this far above random real
DEFAULT_METHOD = "learned latents (package default)"
# Rows measured on package defaults replaced since keep, in their JSON, the label they were measured under;
# the tables name them for what they are now: by that label where it belonged to one default only, else by
# the SHA-256 of the weights they measured (every learned-latents default was measured as DEFAULT_METHOD).
EARLIER_LABELS = {"global+local + herding (package default)": "global+local + herding (earlier default, git 34503d3)"}
EARLIER_DEFAULTS = {
    "958b616e5633354250ccddd77a78b389f5b6e0f4027a46e4fa1d781062510ad2":
        "learned latents, 600 iterations through fresh networks (earlier default, git 3fd791c)",
    "544ca6ffd6a09d668c37d38d5a58ce72fb2a2f1caa634dda4e9b45772637ff2a":
        "learned latents, 600 iterations through fresh networks (earlier default, git aaffdba)",
    "4ee47cb6dbcaba796f8259540b5368e1c9149f6209c1a26bc8b573581bbdf99e":
        "learned latents, 600 iterations, generator fine-tuned with set 0 (earlier default, git 74016da)",
}
METHOD_ORDER = ["random real", "cGAN", "DiM", "global+local", *EARLIER_LABELS.values(), *EARLIER_DEFAULTS.values(),
                DEFAULT_METHOD, "whole training set"]


def method_now(record: Dict[str, Any]) -> str:
    """The row a record belongs to: its label, unless it measured a package default replaced since."""
    earlier = EARLIER_DEFAULTS.get(record.get("source", {}).get("weights_sha256"))
    if earlier and record["method"] == DEFAULT_METHOD:
        return earlier
    return EARLIER_LABELS.get(record["method"], record["method"])


def load_evaluations(folder: Path = RESULTS) -> List[Dict[str, Any]]:
    records = []
    for path in sorted(folder.rglob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and record.get("format") == EVAL_FORMAT and record.get("complete"):
            check_record(record, str(path))  # an edited number is refused, never printed
            record["method"] = method_now(record)
            record["_path"] = str(path.relative_to(HERE.parent))
            records.append(record)
    return records


def _reduction(record: Dict[str, Any]) -> str:
    """'' for the headline protocol, else e.g. ' (300 ep, 3 runs)': never hidden."""
    proto = record["protocol"]
    if not proto.get("reduced"):
        return ""
    bits = []
    if proto.get("epochs") != proto["headline"]["epochs"]:
        bits.append(f"{proto.get('epochs')} ep")
    runs = record["accuracy"]["n"]
    if runs != proto["headline"]["runs"]:
        bits.append(f"{runs} run{'s' if runs != 1 else ''}")
    # One set for every run (evaluate --dataset-seed) is said by _set_note.
    other = [r for r in proto.get("reduced_reasons", []) if not r.startswith(("epochs", "runs", "every run trains"))]
    bits += other
    return " (" + ", ".join(bits) + ")"


def _set_note(record: Dict[str, Any]) -> str:
    """What a generator's runs trained on when it is not one learned set per run: all on one set
    (measured before generators held several), or later runs on seeded noise (past its sets)."""
    sampling = record["protocol"].get("sampling", "")
    if "the same for every seed" in sampling:
        return "set 0 in every run"
    one = record["protocol"].get("dataset_seed")  # evaluate --dataset-seed: one set for every run
    if one is not None:
        if f"are learned set {one} of" in sampling:
            return f"set {one} in every run"
        return f"seed {one} in every run" + (", seeded noise" if "are seeded noise" in sampling else "")
    past = re.search(r"runs (\d+) and up have no learned set", sampling)
    return f"runs {past.group(1)}+ on seeded noise, not a learned set" if past else ""


@functools.lru_cache(maxsize=None)
def _shipped_weights(dataset: str) -> Optional[str]:
    from distilled_datasets.files import sha256_file

    weights = HERE.parent / "distilled_datasets" / "defaults" / dataset / "model.safetensors"
    return sha256_file(weights) if weights.is_file() else None


def _weights_note(record: Dict[str, Any]) -> str:
    """A package-default row measured on weights the package no longer ships says so."""
    measured = record.get("source", {}).get("weights_sha256")
    if record["method"] != DEFAULT_METHOD or measured is None or measured == _shipped_weights(record["dataset"]):
        return ""
    return "earlier weights"


def cell(record: Optional[Dict[str, Any]]) -> str:
    if record is None:
        return "not measured"
    acc = record["accuracy"]
    text = f"{acc['mean']:.2f} ± {acc['std']:.2f}" if acc["n"] > 1 else f"{acc['mean']:.2f}"
    note = "; ".join(n for n in (_set_note(record), _weights_note(record)) if n)
    return text + _reduction(record) + (f" ({note})" if note else "")


def _key(record):
    return record["dataset"], record["method"], record["protocol"]["name"], record["model"], record.get("ipc")


def _index(records) -> Dict[Tuple, Dict[str, Any]]:
    """Latest complete record per (dataset, method, protocol, model, ipc); headline beats reduced."""
    best: Dict[Tuple, Dict[str, Any]] = {}
    for r in records:
        k = _key(r)
        old = best.get(k)
        rank = (not r["protocol"].get("reduced"), r["accuracy"]["n"], r.get("created", ""))
        if old is None or rank > (not old["protocol"].get("reduced"), old["accuracy"]["n"], old.get("created", "")):
            best[k] = r
    return best


def _methods(index, dataset, protocol="fixed", model="convnet3") -> List[str]:
    # Ablation runs (labels naming lambda_local=...) have their own table.
    found = {k[1] for k in index if k[0] == dataset and k[2] == protocol and k[3] == model and _lambda(k[1]) is None}
    return [m for m in METHOD_ORDER if m in found] + sorted(found - set(METHOD_ORDER))


PROGRAMME_FOLDER = "programme"  # benchmarks/results/eval/<dataset>/programme/: the accuracy experiments


SIZE_FOLDER = "size"  # benchmarks/results/eval/cifar10/size/: the generator-size comparison (cifar10_size.py)


def in_programme(record: Dict[str, Any]) -> bool:
    return f"/{PROGRAMME_FOLDER}/" in record["_path"]


def in_side_study(record: Dict[str, Any]) -> bool:
    """Records of their own tables (the programme, the size comparison), not of the results tables."""
    return in_programme(record) or f"/{SIZE_FOLDER}/" in record["_path"]


def size_section(records) -> str:
    """The CIFAR-10 generator-size comparison: each candidate's raw samples and 10 learned codes."""
    rows = sorted((r for r in records if f"/{SIZE_FOLDER}/" in r["_path"]), key=lambda r: r["_path"])
    if not rows:
        return "Not measured yet (`python benchmarks/cifar10_size.py`).\n"
    lines = ["| candidate (stage-1 steps in the same wall time) | IPC 10 | generator | parameters |",
             "|---|---|---|---|"]
    for r in rows:
        gen = r["source"].get("generator_config", {})
        lines.append(f"| {r['method']} | {cell(r)} | width {gen.get('arch_kwargs', {}).get('width', '?')} | "
                     f"{r['source'].get('generator_parameters', 0):,} |")
    return "\n".join(lines) + "\n"


def programme_section(records) -> str:
    """One table per dataset: every experiment of the accuracy programme, by its label."""
    index = _index([r for r in records if in_programme(r)])
    out = []
    for dataset, title in DATASETS:
        order = ("stage 1", "stage 2", "no selection", "selection", "latents:", "latents (")
        def rank(label: str) -> Tuple[int, str]:
            return next((i for i, p in enumerate(order) if label.startswith(p)), len(order)), label

        labels = sorted({k[1] for k in index if k[0] == dataset}, key=rank)
        if not labels:
            continue
        out += [f"**{title}**", "", "| experiment | IPC 1 | IPC 10 | IPC 50 |", "|---|---|---|---|"]
        for label in labels:
            out.append(f"| {label} | " + " | ".join(cell(index.get((dataset, label, "fixed", "convnet3", i)))
                                                 for i in IPCS) + " |")
        out.append("")
    if not out:
        return "Not measured yet.\n"
    return "\n".join(out).rstrip() + "\n"


def results_section(records) -> str:
    index = _index([r for r in records if not in_side_study(r)])
    out = ["Accuracy (%) of ConvNet3 trained from scratch on the distilled set and tested once on the full "
           "real test split; mean ± std over runs. A cell that says `(N ep, K runs)` used fewer epochs or runs "
           "than the headline protocol (1000 epochs, 5 runs); `set 0 in every run`: every run trained on one "
           "learned set; `earlier weights`: the package default as it shipped before (its result file names the "
           "weights' SHA-256).", ""]
    for dataset, title in DATASETS:
        methods = _methods(index, dataset)
        if not methods:
            continue
        out += [f"**{title}**, fixed protocol", "", "| method | IPC 1 | IPC 10 | IPC 50 |", "|---|---|---|---|"]
        for method in methods:
            if method == "whole training set":
                rec = index.get((dataset, method, "fixed", "convnet3", None))
                out.append(f"| {method} (ceiling) | {cell(rec)} | | |")
                continue
            out.append(f"| {method} | " + " | ".join(
                cell(index.get((dataset, method, "fixed", "convnet3", i))) for i in IPCS) + " |")
        out += _published_rows(dataset)
        if dataset in TARGETS:
            out.append("| project target (a goal, not a published figure) | "
                       + " | ".join(f"≥ {t}" for t in TARGETS[dataset]) + " |")
        out.append("")
        out += _verdict(index, dataset, title)
        out += _extra_tables(index, dataset, title)
    out += _published_sources()
    out += ["Every measured cell comes from a JSON file under `benchmarks/results/eval/` that records the command, "
            "the hardware, the protocol and the seeds; the published rows come from "
            "`benchmarks/results/published.json` (paper, table, address); `python benchmarks/readme_tables.py` "
            "regenerates these tables."]
    return "\n".join(out).rstrip() + "\n"


PUBLISHED = RESULTS / "published.json"


def _published(path: Path = PUBLISHED) -> List[Dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["rows"] if path.exists() else []


def _published_rows(dataset: str) -> List[str]:
    """Rows that the methods' own papers report (ConvNet, their protocol): cited, never measured here."""
    out = []
    for number, row in enumerate(_published(), start=1):
        cells = row["accuracy"].get(dataset)
        if cells is not None:
            out.append(f"| {row['method']} (published, not measured here{PUBLISHED_DATA.get(dataset, '')}) "
                       f"[{number}] | " + " | ".join(cells.get(str(i)) or "not checked" for i in IPCS) + " |")
    return out


def _published_sources() -> List[str]:
    rows = _published()
    if not rows:
        return []
    out = ["Published rows, as their papers report them (ConvNet, each paper's own protocol and number of runs):"]
    out += [f"[{n}] {row['method']}: {row['citation']}, {row['where']} ({row['url']})."
            for n, row in enumerate(rows, start=1)]
    return [" ".join(out), ""]


def _protocol_words(record: Dict[str, Any]) -> str:
    return _reduction(record).strip(" ()") or "headline protocol"


def _verdict(index, dataset, title) -> List[str]:
    """Plain sentences: does the shipped default beat a random real subset at IPC 10, and which
    targets are met; computed from the same records as the table."""
    default = index.get((dataset, DEFAULT_METHOD, "fixed", "convnet3", 10))
    real = index.get((dataset, "random real", "fixed", "convnet3", 10))
    out = []
    if default and real:
        d, r = default["accuracy"]["mean"], real["accuracy"]["mean"]
        verb = "beats" if d > r else "does not beat"
        out.append(f"{title}: the shipped default {verb} a random real subset at IPC 10: {d:.2f} vs {r:.2f}, "
                   f"{d - r:+.2f} points ({_protocol_words(default)} / {_protocol_words(real)}).")
    floor = []
    ceiling = index.get((dataset, "whole training set", "fixed", "convnet3", None))
    for ipc in IPCS:
        mine = index.get((dataset, DEFAULT_METHOD, "fixed", "convnet3", ipc))
        base = index.get((dataset, "random real", "fixed", "convnet3", ipc))
        if mine and base:
            gap = mine["accuracy"]["mean"] - base["accuracy"]["mean"]
            same = _protocol_words(mine) == _protocol_words(base)
            # A floor above what the whole training set reaches cannot be met by any distilled set.
            above = ceiling is not None and base["accuracy"]["mean"] + FLOOR_POINTS > ceiling["accuracy"]["mean"]
            unreachable = f"; the floor is above the whole-set ceiling measured here, {cell(ceiling)}" if above else ""
            floor.append(f"IPC {ipc}: {gap:+.2f} ({'met' if gap >= FLOOR_POINTS else 'not met'}"
                         f"{'' if same else ', protocols differ'}{unreachable})")
    if floor:
        out.append(f"Floor ({FLOOR_POINTS:g} points above random real): {'; '.join(floor)}.")
    bars = []
    for method, ipc in BARS.get(dataset, ()):
        figure = next((row["accuracy"].get(dataset, {}).get(str(ipc)) for row in _published()
                       if row["method"] == method), None)
        mine = index.get((dataset, DEFAULT_METHOD, "fixed", "convnet3", ipc))
        if figure and mine:
            gap = mine["accuracy"]["mean"] - float(figure)
            verdict = "met" if gap >= 0 else f"not met, {-gap:.2f} points short"
            bars.append(f"IPC {ipc} at {method}'s published {figure}: {verdict}")
    if bars:
        out.append(f"Bar ({'; '.join(bars)}).")
    out += _copy_cost(index, dataset)
    if dataset in TARGETS:
        bits = []
        for ipc, target in zip(IPCS, TARGETS[dataset]):
            rec = index.get((dataset, DEFAULT_METHOD, "fixed", "convnet3", ipc))
            if rec is None:
                bits.append(f"IPC {ipc}: not measured")
            else:
                gap = rec["accuracy"]["mean"] - target
                bits.append(f"IPC {ipc}: {'met' if gap >= 0 else f'not met, {-gap:.2f} points short'}"
                            f"{' (reduced protocol)' if rec['protocol'].get('reduced') else ''}")
        out.append(f"Targets for the shipped default: {'; '.join(bits)}.")
    return [" ".join(out), ""] if out else []


def _copy_cost(index, dataset) -> List[str]:
    """The lossy copy's measured cost: the same trained models on original and copied test pixels."""
    rows = [(k, r["original_test"]["summary"]) for k, r in sorted(index.items(), key=lambda kv: str(kv[0]))
            if k[0] == dataset and r.get("original_test", {}).get("summary")]
    if not rows:
        return []
    images = next(r for k, r in index.items() if k == rows[0][0])["original_test"]["images"]
    bits = [f"{k[1]}{'' if k[4] is None else f' IPC {k[4]}'}{'' if k[3] == 'convnet3' else f' ({k[3]})'}: "
            f"{s['original_mean']:.2f} on the originals vs {s['copy_mean']:.2f} on the copies ({s['gap_mean']:+.2f})"
            for k, s in rows]
    return [f"Cost of the JPEG copy, measured on the {images:,} test images whose original pixels are known (the "
            f"same trained models, mean over their runs): {'; '.join(bits)}."]


def _extra_tables(index, dataset, title) -> List[str]:
    out: List[str] = []
    resample = [(k, r) for k, r in index.items() if k[0] == dataset and k[2] == "resample"]
    if resample:
        out += [f"{title}, resample protocol (fresh generator noise every batch; float images)", "",
                "| method | IPC 1 | IPC 10 | IPC 50 |", "|---|---|---|---|"]
        for method in _methods(index, dataset, protocol="resample"):
            out.append(f"| {method} | " + " | ".join(cell(index.get((dataset, method, "resample", "convnet3", i)))
                                                  for i in IPCS) + " |")
        out.append("")
    models = sorted({k[3] for k in index if k[0] == dataset and k[2] == "fixed" and k[3] != "convnet3" and k[4] == 10})
    if models:
        methods = [m for m in _methods(index, dataset) if any(index.get((dataset, m, "fixed", mod, 10))
                                                              for mod in models)]
        out += [f"{title}, cross-architecture at IPC 10 (fixed protocol)", "",
                "| method | " + " | ".join(["convnet3"] + models) + " |", "|---" * (len(models) + 2) + "|"]
        for method in methods:
            out.append(f"| {method} | " + " | ".join(cell(index.get((dataset, method, "fixed", mod, 10)))
                                                  for mod in ["convnet3"] + models) + " |")
        out.append("")
    groups: Dict[Optional[float], List[Tuple[float, Dict[str, Any]]]] = defaultdict(list)
    for k, r in index.items():
        if k[0] == dataset and k[2] == "fixed" and k[3] == "convnet3" and k[4] == 1 and _lambda(k[1]) is not None:
            groups[_lambda(k[1], "lambda_global")].append((_lambda(k[1]), r))
    for lambda_global, ablation in sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        ablation.sort(key=lambda item: item[0])
        fixed = f"lambda_global = {lambda_global:g}" if lambda_global is not None else "lambda_global as in the run"
        out += [f"{title}, ablation of lambda_local at IPC 1 ({fixed})", "",
                "| lambda_local | " + " | ".join(f"{lam:g}" for lam, _ in ablation) + " |",
                "|---" * (len(ablation) + 1) + "|", "| accuracy | " + " | ".join(cell(r) for _, r in ablation) + " |",
                ""]
    return out


def _lambda(method: str, name: str = "lambda_local") -> Optional[float]:
    """The value of ``name=...`` in a method label, e.g. "global+local (lambda_global=0.1, lambda_local=0)"."""
    match = re.search(rf"{name}=([0-9.e-]+)", method)
    return float(match.group(1)) if match else None


def synthesis_section(folder: Path = RESULTS) -> str:
    path = folder / "synthesis.json"
    if not path.is_file():
        return "Not measured yet (`python benchmarks/synthesis.py`).\n"
    rec = json.loads(path.read_text())
    hw, limit = rec["hardware"], rec["machine_limit"]
    lines = [f"{hw['cpu']}, {hw['cpu_cores']} cores, torch {hw['versions']['torch']}; "
             f"{rec.get('other_runnable_processes_at_start', '?')} other processes runnable at the start. The limit "
             f"of a synthesis is its images x the generator's FLOPs per image / the float32 matmul rate of all cores "
             f"measured in the same run ({limit['matmul_gflops_all_cores']:.0f} GFLOP/s; "
             f"{limit['matmul_gflops_one_thread']:.0f} on one thread). Medians over fresh processes; "
             f"`{rec['command']}`.", "",
             "| dataset | measurement | value | limit | ratio to limit | target | met |",
             "|---|---|---|---|---|---|---|"]
    names = {"cached_construct_first_item_s": "cached: construction + first item, s",
             "loader_ratio_first_pass_cached": "DataLoader first pass / real first pass (cache warm)",
             "loader_ratio_steady_pass": "DataLoader steady pass / real steady pass"}
    for dataset, fig in rec["datasets"].items():
        targets = fig["targets"]
        for ipc, item in fig["first_time"].items():
            target = targets.get(f"first_time_ipc{ipc}_ratio_to_limit")
            spread = ""
            if len(item["runs"]) > 1:  # this shared machine's spread, shown
                times = [r["materialize_s"] for r in item["runs"]]
                spread = f" (runs: {min(times):.3g} to {max(times):.3g})"
            met = "" if target is None else ("yes" if target["met"] else "no")
            lines.append(f"| {dataset} | first time IPC {ipc} ({item['images']:,} images), s | "
                         f"{item['materialize_s']:.3g}{spread} | {item['limit_s']:.3g} | "
                         f"{item['ratio_to_limit']:.2f} | "
                         f"{target['target'] if target else ''} | {met} |")
        for key, target in targets.items():
            if key.startswith("first_time"):
                continue
            value = "not measured" if target["value"] is None else f"{target['value']:.3g}"
            met = "yes" if target["met"] else ("no" if target["met"] is False else "")
            lines.append(f"| {dataset} | {names.get(key, key)} | {value} | | | {target['target']} | {met} |")
        loader = fig.get("loader")
        if loader:
            lines.append(f"| {dataset} | DataLoader first pass / real, first time (the pass synthesizes) | "
                         f"{loader['ratio_first_pass_first_time']:.3g} | | | | |")
        rss = fig["first_time"].get("50", {}).get("rss_over_torch_mb")
        if rss is not None:
            lines.append(f"| {dataset} | peak RSS of IPC 50 over `import torch, torchvision`, MB | {rss:.0f} | | | | |")
    gens = "; ".join(f"{d}: {f['generator']['source']} (`{f['generator']['architecture']}` "
                     f"{f['generator']['arch_kwargs']}, {f['generator']['num_parameters']:,} parameters, "
                     f"{f['generator']['flops_per_image'] / 1e6:.1f} MFLOP per image, sampling "
                     f"{', '.join(f'{k} {v}' for k, v in f['generator']['sampling'].items())})"
                     for d, f in rec["datasets"].items())
    return "\n".join(lines) + f"\n\nGenerators: {gens}.\n"


def training_speed_section(folder: Path = RESULTS) -> str:
    path = folder / "training_speed.json"
    if not path.is_file():
        return "Not measured yet (`python benchmarks/training_speed.py`).\n"
    rec = json.loads(path.read_text())
    lines = ["| device | stage 1 (s / 1000 images) | stage 2, pool | stage 2 (s / 1000 images) | "
             "evaluation, ConvNet3 (s / 1000 images) |", "|---|---|---|---|---|"]
    for device, dev in rec["devices"].items():
        for i, s2 in enumerate(dev["stage2"]):
            first = i == 0
            lines.append(f"| {dev['hardware'].get('device_name', device) if first else ''} | "
                         f"{dev['stage1']['seconds_per_1000_images'] if first else ''} | {', '.join(s2['pool'])} | "
                         f"{s2['seconds_per_1000_images']} | "
                         f"{dev['evaluation']['seconds_per_1000_images'] if first else ''} |")
    if "cuda" in rec:
        lines += ["", f"CUDA: {rec['cuda']}."]
    lines += ["", f"Torch threads: {rec['torch_threads']}; load average at start "
                  f"{rec['load_average_at_start'][0]:.1f}; command: `{rec['command']}`."]
    return "\n".join(lines) + "\n"


def wang_section(folder: Path = RESULTS) -> str:
    sys.path.insert(0, str(HERE))
    from wang2018_table import render

    return render(folder)


def leverage_section(folder: Path = RESULTS) -> str:
    paths = sorted(folder.glob("stage2_leverage_*.json"))
    if not paths:
        return "Not measured yet (`python benchmarks/stage2_leverage.py`).\n"
    lines = ["| dataset | stage-2 variant | grad(lambda_g * global) / grad(cGAN) | "
             "grad(lambda_l * local) / grad(cGAN) | lambda_global for parity | pool model accuracy when matched (%) |",
             "|---|---|---|---|---|---|"]
    for path in paths:
        rec = json.loads(path.read_text())
        for name, row in rec["variants"].items():
            ratio, parity = row["median_ratio_to_gan"], row["lambda_for_parity"]["global"]
            lines.append(f"| {rec['dataset']} | {name} | {ratio['global']:.2g} | {ratio['local']:.2g} | {parity:.3g} | "
                         f"{row['pool_accuracy']['mean']:.1f} |")
    lines += ["", f"Medians over {rec['variants'][name]['steps']} stage-2 steps from a stage-1 checkpoint of "
                  f"{rec['stage1_steps']} steps; `{rec['command']}`."]
    return "\n".join(lines) + "\n"


def cifar10_training_section(folder: Path = RESULTS) -> str:
    """Wall time of each stage that made the CIFAR-10 generator, as it ran here."""
    path = folder / "cifar10_runs" / "summary.json"
    if not path.is_file():
        return "Not measured yet (`python benchmarks/cifar10_runs.py`).\n"
    rec = json.loads(path.read_text(encoding="utf-8"))
    names = {"c10-stage1": "stage 1 (cGAN)", "c10-s2-paper": "stage 2 (global + local, paper weights)",
             "c10-latents": "learned codes (generator frozen)",
             "c10-latents-generator": "learned codes (generator fine-tuned with them)"}
    lines = ["| stage | steps | wall time (min) | steps / s at the end |", "|---|---|---|---|"]
    for name, stage in rec["stages"].items():
        lines.append(f"| {names.get(name, name)} | {stage['steps']:,} | {stage['wall_seconds_from_log'] / 60:.0f} | "
                     f"{stage['last_logged_rate_steps_per_s']} |")
    hw = rec["hardware"]
    lines += ["", f"{rec['what']}; {hw.get('cpu')} ({hw.get('cpu_cores')} cores); `{rec['command']}` (configs and logs "
                  "in benchmarks/results/cifar10_runs/)."]
    return "\n".join(lines) + "\n"


def distributed_section(folder: Path = RESULTS) -> str:
    path = folder / "distributed_speed.json"
    if not path.exists():
        return "Not measured yet (`python benchmarks/distributed_speed.py`).\n"
    rec = json.loads(path.read_text(encoding="utf-8"))
    lines = ["| stage | processes | steps / s | images / s | speed-up |", "|---|---|---|---|---|"]
    single = {r["stage"]: r["steps_per_s"] for r in rec["rows"] if r["processes"] == 1}
    for row in rec["rows"]:
        base = single.get(row["stage"])
        speedup = f"{row['steps_per_s'] / base:.2f}x" if base else ""
        lines.append(f"| {row['stage']} | {row['processes']} | {row['steps_per_s']:.2f} | {row['images_per_s']:.0f} | "
                     f"{speedup} |")
    hw = rec["hardware"]
    lines += ["", f"{rec['protocol']}. Measured on {hw.get('cpu', 'this machine')} ({hw.get('cpu_cores', '?')} "
                  f"cores) with {rec.get('other_runnable_processes_at_start', '?')} other processes runnable at "
                  f"the start; `{rec['command']}`."]
    return "\n".join(lines) + "\n"


def latents_speed_section(folder: Path = RESULTS) -> str:
    """distill-latents steps in float32 and in bf16 autocast, measured in one run."""
    path = folder / "latents_speed.json"
    if not path.is_file():
        return "Not measured yet (`python benchmarks/latents_speed.py`).\n"
    rec = json.loads(path.read_text(encoding="utf-8"))
    hours_key = next(k for k in next(iter(rec["datasets"].values())) if k.startswith("hours_for_"))
    iterations = hours_key.split("_")[2]  # hours_for_<N>_iterations: the best row's length
    lines = [f"| dataset | fp32 (s / step) | bf16 (s / step) | bf16 speed-up | {iterations} iterations, fp32 / bf16 "
             "(h) |", "|---|---|---|---|---|"]
    for dataset, row in rec["datasets"].items():
        seconds, hours = row["seconds_per_step"], row[hours_key]
        lines.append(f"| {dataset} | {seconds['fp32']} | {seconds['bf16']} | {row['bf16_speedup']:.2f}x | "
                     f"{hours['fp32']} / {hours['bf16']} |")
    hw, protocol = rec["hardware"], rec["protocol"]
    lines += ["", f"{protocol['figure']} ({protocol['rounds']} rounds of {protocol['timed_steps_per_round']} steps); "
                  f"{protocol['generator']}; {hw.get('cpu')} ({hw.get('cpu_cores')} cores, "
                  f"{', '.join(rec['cpu_bf16_features']) or 'no bf16 features'}), {hw.get('torch_threads')} thread, "
                  f"{rec['other_runnable_processes_at_start']} other processes runnable at the start; "
                  f"`{rec['command']}`."]
    return "\n".join(lines) + "\n"


def headline_section(records) -> str:
    """The README's one table: the shipped default beside a random real subset, per dataset."""
    index = _index([r for r in records if not in_side_study(r)])
    lines = ["Accuracy (%) of ConvNet3 trained from scratch on the set and tested on the full real test split "
             "(mean ± std over runs; a cell that says `(N ep, K runs)` used fewer than the headline 1000 epochs and "
             "5 runs; `set 0 in every run`: measured while the generator held one learned set, so the spread is the "
             "classifier's only). Every table, the protocol and the published methods: "
             "[docs/results.md](docs/results.md).", "",
             "| dataset | set | IPC 1 | IPC 10 | IPC 50 |", "|---|---|---|---|---|"]
    shown = []
    for dataset, title in DATASETS:
        for method, name in ((DEFAULT_METHOD, "shipped default"), ("random real", "random real subset")):
            cells = [index.get((dataset, method, "fixed", "convnet3", i)) for i in IPCS]
            if any(cells):
                lines.append(f"| {title} | {name} | " + " | ".join(cell(c) for c in cells) + " |")
                shown += [c for c in cells if c]
    gaps = [r["original_test"]["summary"]["gap_mean"] for r in shown if r.get("original_test", {}).get("summary")]
    if gaps:
        lines += ["", f"CIFAR-10 rows are measured on a JPEG (quality 75) copy of CIFAR-10. What the copy costs: the "
                      f"same trained models score {min(gaps):+.2f} to {max(gaps):+.2f} points higher on the original "
                      "pixels of the 1,017 test images whose originals are known than on their JPEG versions (every "
                      "row above; per row in [docs/results.md](docs/results.md))."]
    return "\n".join(lines) + "\n"


def seeds_section(defaults: Path = HERE.parent / "distilled_datasets" / "defaults") -> str:
    """Which seeds of each shipped generator hold learned sets (from its config.json)."""
    lines = ["| dataset | seeds with a learned set | learned images per class | other seeds |", "|---|---|---|---|"]
    for dataset, title in DATASETS:
        sampling = json.loads((defaults / dataset / "config.json").read_text(encoding="utf-8"))["sampling"]
        sets, latents = sampling.get("latent_sets", 1), sampling.get("latents", 0)
        seeds = "0" if sets == 1 else f"0 to {sets - 1}"
        lines.append(f"| {title.split(' (')[0]} | {seeds} | {latents} | seeded noise, with a warning |")
    return "\n".join(lines) + "\n"


def speed_section(folder: Path = RESULTS) -> str:
    """The README's speed summary: first-time synthesis against this machine's limit."""
    path = folder / "synthesis.json"
    if not path.is_file():
        return "Not measured yet (`python benchmarks/synthesis.py`).\n"
    rec = json.loads(path.read_text())
    lines = ["First-time synthesis of the shipped sets (empty image cache, all cores) against this machine's "
             "limit for the same work (images x FLOPs per image / the measured matmul rate of all cores); "
             f"{rec['hardware']['cpu']}, {rec['hardware']['cpu_cores']} cores. Cached sets load in milliseconds. "
             "Details and the DataLoader comparison: [docs/results.md](docs/results.md#synthesis-speed).", "",
             "| dataset | IPC 50: seconds | ratio to limit | IPC 1000: seconds | ratio to limit |",
             "|---|---|---|---|---|"]
    for dataset, fig in rec["datasets"].items():
        first = fig["first_time"]
        row = [f"{first[i]['materialize_s']:.3g} | {first[i]['ratio_to_limit']:.2f}" if i in first
               else "not measured | " for i in ("50", "1000")]
        lines.append(f"| {dataset} | " + " | ".join(row) + " |")
    imports = folder / "import_time.json"
    if imports.is_file():
        rec = json.loads(imports.read_text())
        cases = rec["cases"]
        lines += ["", "Start-up, in fresh processes (median wall time, the interpreter's own start included; "
                  f"`{rec['command']}`):", "", "| command | seconds | loads torch | loads training code |",
                  "|---|---|---|---|"]
        for name, case in cases.items():
            lines.append(f"| `{name}` | {case['median_s']:.2f} | {'yes' if case['loads_torch'] else 'no'} | "
                         f"{'yes' if case['loads_training_code'] else 'no'} |")
    return "\n".join(lines) + "\n"


SECTIONS = {"headline": lambda: headline_section(load_evaluations()), "speed": speed_section, "seeds": seeds_section,
            "cifar10-size": lambda: size_section(load_evaluations()), "cifar10-training": cifar10_training_section,
            "results": lambda: results_section(load_evaluations()), "leverage": leverage_section,
            "programme": lambda: programme_section(load_evaluations()), "synthesis": synthesis_section,
            "training-speed": training_speed_section, "wang2018": wang_section,
            "distributed-speed": distributed_section, "latents-speed": latents_speed_section}


# Absolute paths of the machine a record was made on (its commands keep them) are shown relative.
MACHINE_PATHS = (re.compile(r"/work/main/"), re.compile(r"/work/"), re.compile(r"/tmp/[^ `]*/"))


def portable(text: str) -> str:
    """The repository's own paths relative to it, its neighbours (../shared) relative to it too."""
    text = MACHINE_PATHS[0].sub("", text)
    text = MACHINE_PATHS[1].sub("../", text)
    return MACHINE_PATHS[2].sub("TMP/", text)


def render_readme(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- BEGIN generated:{name} -->\n).*?(<!-- END generated:{name} -->)", re.S)
        if pattern.search(text):
            body = portable(make())
            text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    return text


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, nargs="+", default=list(PAGES))
    parser.add_argument("--check", action="store_true", help="fail if a page differs from what the JSON gives")
    args = parser.parse_args(argv)
    stale = []
    for page in args.pages:
        text = page.read_text(encoding="utf-8")
        new = render_readme(text)
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"{', '.join(map(str, stale))} stale: run python benchmarks/readme_tables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
