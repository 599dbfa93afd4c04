"""One-off measurements: scripts run once (or once per machine) to measure something, each writing its own
report under ``evals/reports/``: ``python -m evals.oneoff.NAME --help``."""
