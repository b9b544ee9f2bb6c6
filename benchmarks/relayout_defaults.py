"""Move a shipped default to the fast "class_rows" synthesis layout, and measure what that changes.

The layout only batches the same forward passes differently (chunk j of every class in one
channels-last pass instead of one pass per image), so the images are the same up to float rounding
in another kernel. This script counts the pixels that differ (IPC 50 and 1000, seed 0), writes the
new ``sampling`` into the default's config.json (weights untouched: their SHA-256 is checked) and
records the comparison in benchmarks/results/layout_change.json. Then refresh the cards with
``python benchmarks/publish_defaults.py``.

    python benchmarks/relayout_defaults.py --datasets mnist fashion_mnist --chunk-size 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = REPO / "distilled_datasets" / "defaults"
OUT = REPO / "benchmarks" / "results" / "layout_change.json"


def images(generator, ipc: int) -> np.ndarray:
    """uint8 [classes, ipc, ...] of seed 0, made in the generator's own layout."""
    from distilled_datasets.synthesis import synthesize_chunks

    chunk, classes = generator.sampling.chunk_size, generator.config.num_classes
    keys = [(label, j) for j in range(-(-ipc // chunk)) for label in range(classes)]
    made = dict(zip(keys, synthesize_chunks(generator, 0, keys)))
    return np.stack([np.concatenate([made[(c, j)] for j in range(-(-ipc // chunk))])[:ipc] for c in range(classes)])


def main(argv: Optional[List[str]] = None) -> int:
    from distilled_datasets import Generator
    from distilled_datasets.config import CONFIG_NAME, WEIGHTS_NAME
    from distilled_datasets.files import atomic_write_json, read_json, sha256_file
    from distilled_datasets.training.common.provenance import command_line, describe_hardware

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    parser.add_argument("--chunk-size", type=int, default=10)
    parser.add_argument("--ipcs", type=int, nargs="+", default=[50, 1000])
    args = parser.parse_args(argv)
    record = read_json(OUT, "layout record") if OUT.is_file() else {
        "what": "pixels of the shipped sets (seed 0) that differ between the per_class layout and class_rows",
        "datasets": {}}
    for dataset in args.datasets:
        folder = DEFAULTS / dataset
        digest = sha256_file(folder / WEIGHTS_NAME)
        generator = Generator.from_pretrained(folder)
        before = generator.sampling
        if before.layout == "class_rows":
            print(f"{dataset}: already class_rows")
            continue
        after = dataclasses.replace(before, chunk_size=args.chunk_size, layout="class_rows")
        comparison = {}
        for ipc in args.ipcs:
            old = images(generator, ipc)
            generator.sampling = after
            new = images(generator, ipc)
            generator.sampling = before
            diff = np.abs(old.astype(np.int16) - new.astype(np.int16))
            comparison[str(ipc)] = {"pixels": int(diff.size), "differing": int((diff > 0).sum()),
                                    "max_difference": int(diff.max())}
        config = read_json(folder / CONFIG_NAME, "config")
        config["sampling"] = after.to_dict()
        atomic_write_json(folder / CONFIG_NAME, config)
        if sha256_file(folder / WEIGHTS_NAME) != digest:
            raise RuntimeError(f"{folder}: the weights changed")
        record["datasets"][dataset] = {"weights_sha256": digest, "before": before.to_dict(), "after": after.to_dict(),
                                       "ipc": comparison}
        print(f"{dataset}: {comparison}")
    record.update(command=command_line(None if argv is None else ["python", "benchmarks/relayout_defaults.py", *argv]),
                  hardware=describe_hardware("cpu"), date_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    atomic_write_json(OUT, record)
    print(json.dumps({d: r["ipc"] for d, r in record["datasets"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
