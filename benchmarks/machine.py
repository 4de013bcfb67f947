"""Describe the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
import resource

import torch


def describe() -> dict[str, str]:
    """CPU model, cores, memory, torch build and accelerator."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
            mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "torch": f"{torch.__version__} ({torch.get_num_threads()} threads)",
        "gpu": gpu,
    }


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (GiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
