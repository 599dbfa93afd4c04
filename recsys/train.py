"""`python -m recsys.train [method] [options]`: the entry point the design names. It only dispatches to
:mod:`pipeline.train`, the orchestration floor above :mod:`recsys` and :mod:`judge` (docs/design.md)."""

if __name__ == "__main__":
    from pipeline.train import cli

    cli()
