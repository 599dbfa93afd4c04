"""The library the benchmark scripts share: the committed cell records (:mod:`evals.harness.ledger`), the
cell runner and its noise settings (:mod:`evals.harness.cells`), the report tables
(:mod:`evals.harness.tables`) and where the reports live (:mod:`evals.harness.paths`).

Nothing is imported here, so that a script reaching for a table helper does not load the trainer."""
