"""What importing the package and asking the command line for help cost, in fresh processes.

Each command runs --repeats times (median of wall time, including the interpreter's own start,
which is measured alone as the baseline), and the modules each one loaded are checked: `import
distilled_datasets` and `distilled-datasets --help` must load neither torch nor the training code.

    python benchmarks/import_time.py --out benchmarks/results/import_time.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "python -c pass (the interpreter alone)": "pass",
    "import distilled_datasets": "import distilled_datasets",
    "distilled-datasets --help":
        "from distilled_datasets.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "from distilled_datasets import DistilledMNIST (torch, torchvision)":
        "from distilled_datasets import DistilledMNIST",
}
REPORT = ("\nimport sys, json\nm = set(sys.modules)\n"
          "print(json.dumps({'torch': 'torch' in m, 'training': sorted(x for x in m if "
          "x.startswith('distilled_datasets.training.') and x != 'distilled_datasets.training.commands')}))")


def main(argv: Optional[List[str]] = None) -> int:
    from distilled_datasets.files import atomic_write_json
    from distilled_datasets.training.common.provenance import command_line, describe_hardware, other_runnable_processes

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "import_time.json"))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    busy = other_runnable_processes()
    cases = {}
    for name, code in CASES.items():
        times, loaded = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code + REPORT], capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
            times.append(time.perf_counter() - start)
            loaded = json.loads(done.stdout.strip().splitlines()[-1])
        cases[name] = {"median_s": statistics.median(times), "runs_s": times, "loads_torch": loaded["torch"],
                       "loads_training_code": loaded["training"]}
    result = {"benchmark": "import_time", "command": command_line(None if argv is None else
                                                                   ["python", "benchmarks/import_time.py", *argv]),
              "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "hardware": describe_hardware("cpu"),
              "other_runnable_processes_at_start": busy, "cases": cases}
    atomic_write_json(args.out, result)
    for name, case in cases.items():
        print(f"{name}: {case['median_s']:.3f} s, torch {case['loads_torch']}, training {case['loads_training_code']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
