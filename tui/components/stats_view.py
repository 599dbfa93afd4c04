"""Judge-vs-audit agreement and hallucination rates, as rich tables."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.components.verdict_table import KIND_TEXT
from tui.queries import Stats


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


class StatsView(Static):
    def show(self, stats: Stats) -> None:
        decided = stats.audited - stats.unsure
        head = Text.assemble(
            (f"{stats.audited}", "bold"), " audited pairs (each auditor's latest audit), ",
            (f"{decided}", "bold"), " decided, ", (f"{stats.unsure}", "bold"), " unsure. Auditors: ",
            ", ".join(f"{name} ({n})" for name, n in stats.auditors) or "none yet", ".")

        agreement = Table(title="judge vs audit (decided audits)", title_justify="left", expand=False)
        for column in ("scope", "audited", "agree", "agreement", "Cohen's κ"):
            agreement.add_column(column, justify="left" if column == "scope" else "right")
        names = {"decision": "combined decision", "user view": "user view alone (High = hard)",
                 "item view": "item view alone (High = hard)"}
        for a in stats.agreement:
            agreement.add_row(names[a.scope], str(a.n), str(a.agree), _pct(a.agree, a.n),
                              "—" if a.kappa is None else f"{a.kappa:.3f}")

        def rates(title: str, first: str, rows: list[tuple[str, int, int]], labels: dict[str, str]) -> Table:
            table = Table(title=title, title_justify="left")
            for column in (first, "audited", "hallucinated", "rate"):
                table.add_column(column, justify="left" if column == first else "right")
            for name, n, bad in rows:
                table.add_row(labels.get(name, name), str(n), str(bad), _pct(bad, n))
            return table

        self.update(Group(
            head, Text(),
            agreement, Text(),
            rates("hallucination rate by pair kind", "pair kind", stats.by_kind, KIND_TEXT), Text(),
            rates("hallucination rate by graph action", "graph action", stats.by_action,
                  {"removed": "removed (positive judged noise)", "added": "added (negative judged hard)",
                   "kept": "kept"}),
            Text(),
            Text("Hallucinated means the auditor found the judge's decision wrong; the audited label is then "
                 "the opposite decision.", style="dim"),
        ))
