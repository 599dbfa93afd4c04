"""The package as a user installs it: a wheel, in a fresh venv, run from outside the checkout, finds its
prompts and the gate's lab file through importlib.resources and trains the popularity floor."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.mark.slow
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(REPO)], check=True, cwd=tmp_path)
    wheel, = wheels.glob("llmhni_toolkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"prompts/dual_judge.json", "prompts/profile_user.json", "pipeline/break_even.json",
            "tui/app.tcss", "recsys/train.py", "pipeline/methods/llmhni.py"} <= names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv_python(venv)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, cwd=tmp_path)
    # The dependencies come from this interpreter's site-packages: a plain path (a .pth line) adds no
    # editable-install hook, so the checkout stays invisible to the new venv.
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")} | {
        "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OMP_NUM_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], check=False, capture_output=True, text=True, cwd=run_dir, env=env,
                              timeout=600)

    where = run("-c", "import recsys, pipeline.lab as lab, judge.config as c; "
                      "print(recsys.__file__); print(lab.LAB_FILE); print(c.PROMPTS_DIR); print(len(lab.read_lab()))")
    assert where.returncode == 0, where.stderr
    recsys_file, lab_file, prompts_dir, entries = where.stdout.split()
    for path in (recsys_file, lab_file, prompts_dir):
        assert Path(path).is_relative_to(venv) and not Path(path).is_relative_to(REPO)
    assert int(entries) > 0  # the gate reads the lab's break-evens from the installed package

    assert run("-m", "judge", "--help").returncode == 0
    trained = run("-m", "recsys.train", "popularity", "--store", str(run_dir / "store.duckdb"), "--no-progress")
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "recall@20" in trained.stdout
