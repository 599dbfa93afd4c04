"""tui: the Textual app that audits the judge's verdicts (`python -m tui`) and exports audits as labels."""
