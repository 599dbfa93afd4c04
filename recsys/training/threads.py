"""How many CPU threads torch (and the embedded llama.cpp) should use on this machine, now.

torch's default is one intra-op thread per core of the machine. On a shared machine those threads
spin-wait on each other while another process holds a core, and a 2-thread epoch runs 12-17x slower
than a 1-thread one (evals/reports/threads.md). So the default counts the CPUs this process may run on
(its affinity mask, not the machine's cores) and leaves out those other processes keep busy (sampled
over a fraction of a second, this process's own use excluded), never fewer than one. ``--threads N``, or an
explicit OMP_NUM_THREADS, overrides it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)
# How long busy_cpus watches the machine: long enough to see a busy core, short beside a run's start-up.
SAMPLE_SECONDS = 0.3


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not every core of the machine."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far, from Linux's /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cpus(window_s: float = SAMPLE_SECONDS) -> float:
    """CPUs other processes keep busy now: the machine's busy time over a short window less this process's
    own (so a long-running caller, a test suite or a server, does not count itself), in CPUs. Falls back to
    the 1-minute load average where /proc/stat is missing. Erring high costs at most a second thread;
    erring low costs 12-17x."""
    try:
        busy0, total0 = _cpu_ticks()
        own0, start = sum(os.times()[:2]), time.monotonic()
        time.sleep(window_s)
        busy1, total1 = _cpu_ticks()
        own1, elapsed = sum(os.times()[:2]), time.monotonic() - start
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    cpus = os.cpu_count() or 1
    machine = cpus * (busy1 - busy0) / max(total1 - total0, 1)
    return max(0.0, machine - (own1 - own0) / max(elapsed, 1e-9))


def choose_threads(requested: int | None = None, cpus: int | None = None, load: float | None = None,
                   omp_env: bool = True) -> int:
    """``requested`` if given, else an explicit OMP_NUM_THREADS (unless ``omp_env`` is False: llama.cpp
    does not read it); else the usable CPUs less the busy ones
    (rounded to the nearest, at least 1)."""
    if requested:
        return requested
    explicit = os.environ.get("OMP_NUM_THREADS", "") if omp_env else ""
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
