"""Render a generator's README.md model card from the template in hub_cards/."""

from __future__ import annotations

import json
from importlib import resources
from string import Template
from typing import Any, Dict, List, Optional

from .generator import Generator

TEMPLATE = "generator.md"


def _dataset_class(dataset_name: Optional[str]):
    from .datasets import DistilledCIFAR10, DistilledFashionMNIST, DistilledMNIST

    for cls in (DistilledMNIST, DistilledFashionMNIST, DistilledCIFAR10):
        if cls.dataset_name == dataset_name:
            return cls
    return None


def metrics_table(metrics: List[Dict[str, Any]]) -> str:
    """Markdown table of measured rows: {method, protocol, model, ipc, mean, std, runs, result}."""
    if not metrics:
        return "Not measured yet."
    lines = ["| method | protocol | model | IPC | accuracy (%) | runs | result file |", "|---|---|---|---|---|---|---|"]
    for row in metrics:
        acc = f"{row['mean']:.2f} +- {row['std']:.2f}" if "std" in row else f"{row['mean']:.2f}"
        lines.append(f"| {row.get('method', '')} | {row.get('protocol', '')} | {row.get('model', '')} | "
                     f"{row.get('ipc', '')} | {acc} | {row.get('runs', '')} | {row.get('result', '')} |")
    return "\n".join(lines)


def training_text(training: Dict[str, Any]) -> str:
    if not training:
        return "Not recorded."
    return "\n".join(f"- `{key}`: `{json.dumps(value, sort_keys=True)}`" for key, value in training.items())


def _selection_text(generator: Generator) -> str:
    if generator.selector is None:
        return "none: every synthesized image is kept"
    selector_params = sum(p.numel() for p in generator.selector.parameters())
    return (f"herding: each chunk synthesizes {generator.sampling.candidates}x more candidates and keeps those whose "
            f"features (a {selector_params:,}-parameter classifier trained on the real training set, shipped in the "
            "weights) best match the real class mean")


def render_card(generator: Generator, *, has_samples: bool = False, repo_id: Optional[str] = None) -> str:
    meta, cfg = generator.metadata, generator.config
    cls = _dataset_class(meta.get("dataset"))
    text = (resources.files("distilled_datasets.hub_cards") / TEMPLATE).read_text(encoding="utf-8")
    fields = {
        "license": meta.get("license", "mit"),
        "dataset": meta.get("dataset", "unknown"),
        "hub_dataset": cls.hub_dataset if cls else meta.get("dataset", "unknown"),
        "dataset_title": cls.title if cls else meta.get("dataset", "unknown"),
        "dataset_class": cls.__name__ if cls else "DistilledMNIST",
        "torchvision_class": cls.real_dataset.rsplit(".", 1)[-1] if cls else "MNIST",
        "image_mode": "RGB" if cfg.channels == 3 else "L",
        "load_arguments": f'ipc=10, seed=0, repo_id="{repo_id}"' if repo_id else (
            "ipc=10, seed=0" if meta.get("package_default") else 'ipc=10, seed=0, repo_id="path/to/this/folder"'),
        "load_comment": "  # the generator that ships with the package" if meta.get("package_default") and not repo_id
        else "",
        "architecture": cfg.architecture,
        "num_parameters": f"{generator.num_parameters:,}",
        "noise_dim": cfg.noise_dim,
        "channels": cfg.channels,
        "image_size": cfg.image_size,
        "chunk_size": generator.sampling.chunk_size,
        "selection": _selection_text(generator),
        "library_version": generator.config_dict()["library_version"],
        "training": training_text(meta.get("training", {})),
        "metrics": metrics_table(meta.get("metrics", [])),
        "notes": f"\n{meta['notes']}\n" if meta.get("notes") else "",
        "samples": "## Samples (seed 0, one row per class)\n\n![samples](samples.png)" if has_samples else "",
    }
    return Template(text).substitute(fields)
