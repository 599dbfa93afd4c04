"""The thread choice: the CPUs this process may use (its affinity mask), less the busy ones, at least one."""

from __future__ import annotations

import os

import pytest
import torch

from recsys.training import threads


@pytest.fixture
def affinity(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    def set_cpus(cpus: set[int]) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: cpus, raising=False)
    return set_cpus


def test_usable_cpus_is_the_affinity_mask_not_the_machine(affinity):
    affinity({3})
    assert threads.usable_cpus() == 1
    assert threads.choose_threads(load=0.0) == 1  # one allowed CPU: one thread, however idle the machine
    affinity({0, 1, 2, 3})
    assert threads.usable_cpus() == 4


@pytest.mark.parametrize("cpus,load,expected", [(2, 0.0, 2), (2, 0.3, 2), (2, 1.0, 1), (2, 6.0, 1), (4, 1.2, 3),
                                                (8, 2.6, 5)])
def test_busy_cpus_are_left_out_but_one_thread_always_remains(affinity, cpus, load, expected):
    assert threads.choose_threads(cpus=cpus, load=load) == expected


def test_an_explicit_request_wins(affinity, monkeypatch):
    assert threads.choose_threads(3, cpus=2, load=5.0) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.choose_threads(cpus=8, load=0.0) == 1


def test_apply_threads_sets_torch(affinity, monkeypatch):
    before = torch.get_num_threads()
    try:
        assert threads.apply_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr(threads, "busy_cpus", lambda: 0.0)
        affinity({0, 1})
        assert threads.apply_threads() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_busy_cpus_sees_another_process_but_not_this_one():
    import subprocess
    import sys
    import threading
    import time

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    # Read against what the rest of the machine does now: CI may run beside other work.
    before = threads.busy_cpus(0.5)
    own = threading.Thread(target=spin)
    own.start()
    try:
        assert threads.busy_cpus(0.5) < before + 0.5  # this process's own work is not "other processes"
    finally:
        stop.set()
        own.join()
    before = threads.busy_cpus(0.5)
    if before > threads.usable_cpus() - 1:
        pytest.skip(f"other processes keep {before:.1f} CPUs busy: no room to see one more")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert threads.busy_cpus(0.5) > before + 0.5
    finally:
        hog.kill()
        hog.wait()
