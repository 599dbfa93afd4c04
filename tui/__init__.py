"""tui: the Textual app that audits the judge's verdicts (`python -m tui`), built in its own issue."""
