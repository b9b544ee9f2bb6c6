"""A generator's model card (README.md): YAML metadata from huggingface_hub's ``ModelCardData``,
the body from the template hub_cards/generator.md, filled with the config and measured results."""

from __future__ import annotations

import json
from importlib import resources
from string import Template
from typing import Any, Dict, List, Optional

from huggingface_hub import ModelCard, ModelCardData

from .dataset_info import IMAGE_FOLDER, IMAGE_FOLDER_PREFIX, get_dataset_info, info_from_metadata, list_datasets

TEMPLATE = "generator.md"


HEADLINE_MODEL = "convnet3"  # the evaluation protocol's network: its rows lead the table


def _row_order(row: Dict[str, Any]) -> tuple:
    # Headline rows first, by IPC; then the other networks; within a cell the measured set before its baselines.
    ipc = row.get("ipc")
    return (row.get("model") != HEADLINE_MODEL, str(row.get("model", "")), ipc is None,
            ipc if isinstance(ipc, int) else 0, "baseline" in str(row.get("method", "")))


def metrics_table(metrics: List[Dict[str, Any]]) -> str:
    """Markdown table of measured rows: {method, protocol, model, ipc, mean, std, runs, result}."""
    if not metrics:
        return "Not measured yet."
    lines = ["| method | protocol | model | IPC | accuracy (%) | runs | result file (in the publisher's source tree) |",
             "|---|---|---|---|---|---|---|"]
    for row in sorted(metrics, key=_row_order):
        acc = f"{row['mean']:.2f} +- {row['std']:.2f}" if "std" in row else f"{row['mean']:.2f}"
        ipc = "whole set" if row.get("ipc", "") is None else row.get("ipc", "")  # the whole training set
        lines.append(f"| {row.get('method', '')} | {row.get('protocol', '')} | {row.get('model', '')} | "
                     f"{ipc} | {acc} | {row.get('runs', '')} | {row.get('result', '')} |")
    return "\n".join(lines)


def training_text(training: Dict[str, Any]) -> str:
    """The recipe in config.json's "training": plain values as a list, nested ones (a stage's settings,
    the recipe of each learned set) as indented JSON folded under their key, so the card stays readable."""
    if not training:
        return "Not recorded."
    nested = {key: value for key, value in training.items() if isinstance(value, (dict, list))}
    plain = [f"- `{key}`: {json.dumps(value)}" for key, value in training.items() if key not in nested]
    folded = [f"<details>\n<summary><code>{key}</code></summary>\n\n```json\n"
              f"{json.dumps(value, indent=2, sort_keys=True)}\n```\n\n</details>" for key, value in nested.items()]
    return "\n\n".join(part for part in ("\n".join(plain), *folded) if part)


def _sampling_text(generator) -> str:
    sampling = generator.sampling
    parts = []
    if generator.latents is not None:
        count, sets = sampling.latents, sampling.latent_sets
        seeds = "seed 0" if sets == 1 else f"each seed 0..{sets - 1}"
        where = "" if sampling.latent_layer == "noise" else f" (codes in its {sampling.latent_layer!r} feature map)"
        parts.append(f"learned latents: under {seeds}, samples 0..{count - 1} of each class come from {count} "
                     f"latent codes per class optimised through the generator{where} ({sets} learned set(s), each "
                     f"a distilled set of its own), and samples from {count} on from seeded noise; any other seed "
                     "gives seeded noise for every sample (the raw generator's images)")
    if generator.selector is not None:
        selector_params = sum(p.numel() for p in generator.selector.parameters())
        rule = {"herding": "whose features best match the real class mean (herding)",
                "kcenter": "that cover the class best (k-center in feature space)",
                "mix": "alternately by herding and by k-center"}[sampling.selection]
        parts.append(f"each chunk synthesizes {sampling.candidates}x more candidates and keeps those {rule}, in the "
                     f"features of a {selector_params:,}-parameter classifier trained on the real training set and "
                     "shipped in the weights")
    return "; ".join(parts) or "none: every image comes from seeded noise, and every synthesized image is kept"


def card_data(generator) -> ModelCardData:
    """The card's YAML metadata: library, license, tags, the real dataset's Hub id, the metric."""
    meta = generator.metadata
    name = meta.get("dataset") or "unknown"
    # The user's own image folder has no Hub dataset to name (and a tag holds no ':'), wherever the card
    # is written: in the training process, which registered the folder, or later.
    own = name.startswith(IMAGE_FOLDER_PREFIX) or name not in list_datasets()
    return ModelCardData(library_name="distilled-datasets", license=meta.get("license", "mit"),
                         tags=["dataset-distillation", "conditional-generator", "image-classification",
                               IMAGE_FOLDER if name.startswith(IMAGE_FOLDER_PREFIX) else name],
                         datasets=None if own else [get_dataset_info(name).hub_dataset], metrics=["accuracy"])


def render_card(generator, *, has_samples: bool = False, repo_id: Optional[str] = None) -> str:
    """README.md of ``generator``'s repository (front matter + body)."""
    meta, cfg = generator.metadata, generator.config
    name = meta.get("dataset")
    known = name in list_datasets()
    info = get_dataset_info(name) if known else info_from_metadata(meta, cfg.channels, cfg.image_size, cfg.num_classes)
    package_default = bool(meta.get("package_default")) and not repo_id
    if repo_id:
        load = f'ipc=10, seed=0, repo_id="{repo_id}"'
    else:
        load = "ipc=10, seed=0" if package_default else 'ipc=10, seed=0, repo_id="path/to/this/folder"'
    body = Template((resources.files("distilled_datasets.hub_cards") / TEMPLATE).read_text(encoding="utf-8"))
    text = body.substitute(
        dataset_title=info.title, dataset_class=f"Distilled{info.torchvision_name}",
        torchvision_class=info.torchvision_name, image_mode=info.image_mode, load_arguments=load,
        load_comment="  # the generator that ships with the package" if package_default else "",
        architecture=cfg.architecture, num_parameters=f"{generator.num_parameters:,}", noise_dim=cfg.noise_dim,
        channels=cfg.channels, image_size=cfg.image_size, chunk_size=generator.sampling.chunk_size,
        selection=_sampling_text(generator), library_version=generator.config_dict()["library_version"],
        training=training_text(meta.get("training", {})), metrics=metrics_table(meta.get("metrics", [])),
        notes=f"\n{meta['notes']}\n" if meta.get("notes") else "",
        samples="## Samples (seed 0, one row per class)\n\n![samples](samples.png)" if has_samples else "")
    return str(ModelCard(f"---\n{card_data(generator).to_yaml()}\n---\n\n{text}"))
