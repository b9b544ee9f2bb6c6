"""Refresh the model cards of the generators shipped in the package from the committed results.

For each default (distilled_datasets/defaults/<dataset>), the card's measured table gets every
complete evaluation in benchmarks/results/eval/<dataset>/ that was measured on exactly these
weights (SHA-256) plus the baselines (random real subset, whole training set). The recipe's paths
inside this repository are made relative to it (the build machine's folders mean nothing to a user),
and the folder is re-published in place (weights in their stored precision, unchanged bytes) and its card copied to
hub_cards/<dataset>.md.

    python benchmarks/publish_defaults.py [--datasets mnist fashion_mnist]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = REPO / "distilled_datasets" / "defaults"
RESULTS = REPO / "benchmarks" / "results" / "eval"


def _data_records(training) -> list:
    """Every ``data`` record (what was trained on) anywhere in a training recipe."""
    if isinstance(training, dict):
        found = [training["data"]] if isinstance(training.get("data"), dict) else []
        return found + [d for v in training.values() for d in _data_records(v)]
    return []


def notes(training: dict, dataset: str = "mnist") -> str:
    """How a CPU-trained default was made; step counts from its own training record."""
    protocol = ("Every row marked REDUCED was measured with fewer epochs or runs than the headline protocol "
                "(1000 epochs, 5 runs); the result file of each row holds the exact command, hardware and seeds.")
    if any(d.get("lossy_copy") for d in _data_records(training)):
        protocol = ("Trained, and every accuracy here measured, on a JPEG copy of the dataset (the original files "
                    "could not be fetched on the machines that made it): these are not the numbers of the original "
                    "test split; the result files also hold each model's accuracy on the test images whose original "
                    "pixels are known, and on their JPEG copies. " + protocol)
    if training.get("method") == "latent distribution matching":
        latents = training.get("latents", {})
        prefixes = ", ".join(str(p) for p in latents.get("prefixes", []))
        lr = latents.get("lr_generator") or 0
        network = "frozen" if not lr else f"fine-tuned together with the codes (Adam, rate {lr:g})"
        return ("Made on a shared 2-core CPU (no GPU was available; the package's docs/results.md names the "
                f"scripts): {network_origin(training.get('generator', {}), dataset)}, {network}, with "
                f"{latents.get('latents', '?')} latent codes per class learned by distribution matching "
                f"{_matching_networks(latents)} for {latents.get('steps_done', '?')} iterations, every prefix of "
                f"{prefixes} codes matched at once: "
                "`ipc=k` synthesizes from the first k codes (k at most their number; the images beyond it come "
                f"from seeded noise).{_sets_text(training)} {protocol}")
    stage1 = training.get("init_from", {}).get("stage1_steps_done", "?")
    return (f"These weights were trained on a shared 2-core CPU (no GPU was available): {stage1} stage-1 steps "
            f"and {training.get('steps_done', '?')} stage-2 steps, far short of the full recipe. {protocol}")


def network_origin(generator: dict, dataset: str) -> str:
    """The network under the codes: its GAN run, and the earlier code learning that fine-tuned it, if any
    (a generator recipe that is itself a latents recipe: CIFAR-10's network was fine-tuned with the
    earlier default's codes)."""
    if generator.get("method") == "latent distribution matching":
        earlier, base = generator.get("latents", {}), network_origin(generator.get("generator", {}), dataset)
        lr = earlier.get("lr_generator") or 0
        if not lr:
            return base
        return (f"{base}, fine-tuned together with an earlier set of {earlier.get('latents', '?')} codes per class "
                f"(Adam, rate {lr:g}, {earlier.get('steps_done', '?')} iterations)")
    origin = ("the conditional generator of the earlier default" if dataset in ("mnist", "fashion_mnist")
              else "a conditional generator trained here")
    stage1 = generator.get("init_from", {}).get("stage1_steps_done", "?")
    return f"{origin} ({stage1} stage-1 and {generator.get('steps_done', '?')} stage-2 steps)"


def _matching_networks(latents: dict) -> str:
    """Which networks the codes were matched through (the recipe's pool settings)."""
    model = latents.get("embed_model", "?")
    if not latents.get("pool"):
        return f"through a freshly initialised {model} at each iteration"
    return (f"through a pool of {latents['pool']} {model} networks trained online on real batches "
            f"({latents.get('pool_steps', '?')} SGD steps per draw, each re-initialised after "
            f"{latents.get('pool_life', '?')} of its SGD steps)")


def _sets_text(training: dict) -> str:
    sets = training.get("sets") or []
    if len(sets) < 2:
        return " This is the one learned set: seed 0 gives it, any other seed seeded noise."
    return (f" Seeds 0 to {len(sets) - 1} each give their own learned set: set s was learned the same way from the "
            "generator's seed-s noise, with networks, batches and augmentations drawn from s"
            + (", through the fine-tuned generator, frozen (set 0 fine-tuned it)" if any(
               (r.get("lr_generator") or 0) > 0 for r in sets[:1]) else "")
            + " (benchmarks/latent_sets.py); a later seed gives seeded noise.")


def repo_relative(value):
    """A recipe with the build machine's paths inside this repository made relative to it ("runs/...",
    "local:runs/..."): where the runs lay on that machine says nothing to a user and names its folders."""
    if isinstance(value, dict):
        return {key: repo_relative(item) for key, item in value.items()}
    if isinstance(value, list):
        return [repo_relative(item) for item in value]
    return value.replace(str(REPO) + os.sep, "") if isinstance(value, str) else value


def stored_as_half(weights: Path) -> bool:
    """Whether the published weights are float16, so that re-publishing keeps their bytes."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        return any(handle.get_slice(key).get_dtype() == "F16" for key in handle.keys())


def matching_results(dataset: str, weights_sha256: str) -> List[Path]:
    from distilled_datasets.training.evaluation.records import check_record

    chosen = []
    for path in sorted((RESULTS / dataset).glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != "distilled-datasets/evaluation" or not record.get("complete"):
            continue
        check_record(record, str(path))
        source = record.get("source", {})
        measured = source.get("weights_sha256")
        baseline = source.get("kind") in ("random-real", "whole")
        if measured == weights_sha256 or (measured is None and baseline):
            chosen.append(path)
    return chosen


def main(argv=None) -> int:
    from distilled_datasets.config import WEIGHTS_NAME
    from distilled_datasets.files import atomic_write_json, sha256_file
    from distilled_datasets.training.publishing.publish_generator import PublishOptions, publish

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=[p.name for p in sorted(DEFAULTS.iterdir()) if p.is_dir()])
    args = parser.parse_args(argv)
    for dataset in args.datasets:
        folder = DEFAULTS / dataset
        digest = sha256_file(folder / WEIGHTS_NAME)
        results = matching_results(dataset, digest)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        training = repo_relative(config.get("training", {}))
        if training != config.get("training", {}):  # publish copies the folder's recipe into the card
            atomic_write_json(folder / "config.json", {**config, "training": training})
        options = PublishOptions(out=str(folder), results=tuple(results), half=stored_as_half(folder / WEIGHTS_NAME),
                                 package_default=True, notes=notes(training, dataset), overwrite=True)
        publish(folder, options, results_root=REPO)
        if sha256_file(folder / WEIGHTS_NAME) != digest:
            raise RuntimeError(f"re-publishing {folder} changed its weights; the results no longer apply")
        shutil.copyfile(folder / "README.md", REPO / "hub_cards" / f"{dataset}.md")
        print(f"{dataset}: card with {len(results)} results -> hub_cards/{dataset}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
