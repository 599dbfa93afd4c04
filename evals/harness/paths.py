"""Where the benchmark reports live (``evals/reports/``, with their plots and committed cell records) and
where the per-dataset settings files are read (``configs/<dataset>/<method>.toml``)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORTS_DIR = REPO / "evals" / "reports"
CONFIGS_DIR = REPO / "configs"


def shown(path: Path) -> str:
    """``path`` relative to the repository where it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)
