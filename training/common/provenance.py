"""Provenance for result JSONs: the hardware and software a measurement ran on, the command that
made it, and the device it resolved to.

Every committed number carries this record, so that a reader can tell a CPU figure from a GPU
one and compare timings only between like machines. Nothing here touches the network.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from typing import Any, Dict, Optional, Sequence, Union

import torch

from distilled_datasets.errors import UsageError


def _cpu_model() -> str:
    # /proc/cpuinfo names the CPU on Linux; platform.processor() is often empty there.
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> Optional[float]:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _versions() -> Dict[str, Optional[str]]:
    versions: Dict[str, Optional[str]] = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("torchvision", "numpy", "huggingface_hub", "safetensors"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                versions[name] = None
                continue
        versions[name] = getattr(module, "__version__", None)
    try:
        from distilled_datasets import __version__ as package_version
    except ImportError:  # pragma: no cover - the package is always importable next to training/
        package_version = None
    versions["distilled_datasets"] = package_version
    return versions


def _cuda(device: torch.device) -> Optional[Dict[str, Any]]:
    if not torch.cuda.is_available():
        return None
    index = device.index if device.type == "cuda" and device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {
        "name": props.name,
        "count": torch.cuda.device_count(),
        "memory_gib": round(props.total_memory / 2**30, 1),
        "capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


def describe_hardware(device: Union[str, torch.device, None] = None) -> Dict[str, Any]:
    """A JSON-ready record: the device used, CPU model and cores, GPU (if any), thread count,
    memory, OS and the versions of Python, torch, torchvision and this package."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    cuda = _cuda(device)
    return {
        "device": str(device),
        "device_name": cuda["name"] if device.type == "cuda" and cuda else _cpu_model(),
        "cpu": _cpu_model(),
        "cpu_cores": _usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": _memory_gib(),
        "gpu": cuda,
        "platform": platform.platform(),
        "versions": _versions(),
    }


def other_runnable_processes() -> Optional[int]:
    """Processes besides this one ready to run at this instant (/proc/loadavg): what a timing shares
    the CPU with. The load average, a one-minute mean, lags behind it. None where /proc is missing."""
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            running = handle.read().split()[3].split("/")[0]
    except (OSError, IndexError):
        return None
    return int(running) - 1


def resolve_device(device: Union[str, torch.device, None] = "auto") -> torch.device:
    """"auto" (or None) -> CUDA when present, else CPU; any other value is checked and returned."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UsageError(f"device {device!r} is not a torch device; valid values: 'auto', 'cpu', 'cuda', "
                         "'cuda:N'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu "
                         "or --device auto")
    return resolved


def command_line(argv: Optional[Sequence[str]] = None) -> str:
    """A shell-quoted command for the record. The CLI passes its own argv (``args.argv``, which
    starts with "distilled-datasets"), so a command run in-process records itself, not its host;
    without one, this process's command line (``python script.py ...``)."""
    if argv is None:
        argv = ["python", *sys.argv] if not os.path.basename(sys.argv[0]).startswith("distilled-datasets") else \
            ["distilled-datasets", *sys.argv[1:]]
    return " ".join(shlex.quote(str(a)) for a in argv)
