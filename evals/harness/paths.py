"""Where the benchmark reports live: ``evals/reports/``, with their plots and committed cell records."""

from pathlib import Path

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"
