"""How many CPU threads torch (and the embedded llama.cpp) should use on this machine, now.

torch's default is one intra-op thread per core of the machine. On a shared machine those threads
spin-wait on each other while another process holds a core, and a 2-thread epoch runs 12-17x slower
than a 1-thread one (evals/reports/threads.md). So the default counts the CPUs this process may run on
(its affinity mask, not the machine's cores) and leaves out those other processes keep busy (the
1-minute load average, or the processes runnable now), never fewer than one. ``--threads N``, or an
explicit OMP_NUM_THREADS, overrides it.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not every core of the machine."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def busy_cpus() -> float:
    """CPUs other processes keep busy: the larger of the 1-minute load average and the processes runnable
    right now besides this one (Linux's /proc/loadavg), so a hog started seconds ago counts too; 0 where
    the OS reports neither. Erring high costs at most the second thread; erring low costs 12-17x."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):
        average = 0.0
    try:
        runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        runnable = 0
    return max(average, float(runnable))


def choose_threads(requested: int | None = None, cpus: int | None = None, load: float | None = None) -> int:
    """``requested`` if given, else an explicit OMP_NUM_THREADS; else the usable CPUs less the busy ones
    (rounded to the nearest, at least 1)."""
    if requested:
        return requested
    explicit = os.environ.get("OMP_NUM_THREADS", "")
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    cpus = usable_cpus() if cpus is None else cpus
    load = busy_cpus() if load is None else load
    return max(1, min(cpus, math.floor(cpus - load + 0.5)))


def apply_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads to :func:`choose_threads` and return the count."""
    import torch

    threads = choose_threads(requested)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    logger.debug("torch threads: %d (usable CPUs %d, load %.1f)", threads, usable_cpus(), busy_cpus())
    return threads
