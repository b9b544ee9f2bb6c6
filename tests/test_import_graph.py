"""The runtime package's import graph: no cycles (function-level imports included), no training
code, and the Generator never reaches model-card, preview or repository code."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Set

PACKAGE = Path(__file__).resolve().parents[1] / "distilled_datasets"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> Dict[str, Set[str]]:
    """{runtime module: runtime modules it imports anywhere in its file (top level or inside functions)}."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: Dict[str, Set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            edges.update(c for c in candidates if c.startswith("distilled_datasets"))
        graph[name] = edges
    return graph


def _closure(graph: Dict[str, Set[str]], start: str) -> Set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_cycles_among_runtime_modules():
    graph = import_graph()
    runtime = {m: {e for e in edges if e in graph and e != "distilled_datasets"} for m, edges in graph.items()}
    for module in runtime:
        assert module not in _closure(runtime, module), f"{module} imports itself through {runtime[module]}"


def test_runtime_modules_do_not_import_the_package_root_or_training():
    for module, edges in import_graph().items():
        if module == "distilled_datasets":
            continue  # the root re-exports the public names
        assert "distilled_datasets" not in edges, f"{module} imports the package root (a cycle through __init__)"
        assert not any(e.startswith("distilled_datasets.training") for e in edges), f"{module} imports training code"


def test_generator_reaches_no_card_or_preview_code():
    reached = _closure(import_graph(), "distilled_datasets.generator")
    for forbidden in ("model_card", "preview", "repository", "datasets", "cli"):
        assert f"distilled_datasets.{forbidden}" not in reached, forbidden


def test_import_and_help_load_neither_torch_nor_training_code():
    """`import distilled_datasets` and `distilled-datasets --help` stay light (issue: one way to do each
    thing); the names load on first use."""
    import subprocess
    import sys

    report = ("\nimport sys\nm = set(sys.modules)\nprint('torch' in m, sorted(x for x in m if "
              "x.startswith('distilled_datasets.training.') and x != 'distilled_datasets.training.commands'))")
    for code in ("import distilled_datasets",
                 "from distilled_datasets.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"):
        out = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True, check=True)
        assert out.stdout.strip().splitlines()[-1] == "False []", (code, out.stdout)
    out = subprocess.run([sys.executable, "-c", "import distilled_datasets as d; print(d.DistilledMNIST.__name__, "
                          "'DistilledCIFAR10' in dir(d))"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["DistilledMNIST", "True"]
