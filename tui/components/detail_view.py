"""The detail of one judged pair: a summary (decision, graph action, LM, prompt hash, audits), the two
views' verdicts side by side, and below each the context it judged from (user profile and history;
item profile and text)."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Static

from tui.components.verdict_table import ACTION_STYLE, KIND_TEXT, LABEL_STYLE, audit_text
from tui.queries import Detail, VerdictRow, ViewVerdict


def _field(name: str, value: str | None) -> Text:
    return Text.assemble((f"{name}: ", "bold"), value or Text("none stored", style="dim italic"))


def _verdict(verdict: ViewVerdict | None) -> Text:
    if verdict is None:
        return Text("not judged yet", style="dim italic")
    if verdict.status != "ok":
        return Text.assemble(("failed", "bold red"), f"  {verdict.error or ''}")
    return Text.assemble((verdict.label or "", f"bold {LABEL_STYLE.get(verdict.label, '')}"), "  ",
                         verdict.rationale or "")


class DetailView(Vertical):
    """Shows a :class:`Detail`; empty until :meth:`show` is called."""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-meta")  # first: the decision and the audit state are what the auditor checks
        with Grid(id="detail-grid"):  # the two rationales side by side, then what each view read
            yield Static(id="user-verdict", classes="verdict")
            yield Static(id="item-verdict", classes="verdict")
            yield Static(id="user-side", classes="side")
            yield Static(id="item-side", classes="side")

    def on_mount(self) -> None:
        self.query_one("#user-verdict").border_title = "user view"
        self.query_one("#item-verdict").border_title = "item view"
        self.clear()

    def clear(self, message: str = "") -> None:
        for static in self.query(Static):
            static.update("")
        self.query_one("#detail-meta", Static).update(Text(message, style="dim"))

    def show(self, row: VerdictRow, detail: Detail) -> None:
        user_side = self.query_one("#user-side", Static)
        user_side.border_title = f"user {detail.key.user_idx}"
        history = Text("\n").join(Text.assemble("  ", title, (f"  {score:.2f}", "dim"))
                                  for title, score in detail.history)
        user_side.update(Group(
            _field("profile", detail.user_profile),
            Text("highest-scored interacted items:", style="bold"),
            history if detail.history else Text("  none stored", style="dim italic"),
        ))
        item_side = self.query_one("#item-side", Static)
        item_side.border_title = f"{detail.item_title} · item {detail.key.item_idx}"
        item_side.update(Group(_field("genres", detail.item_genres), _field("profile", detail.item_profile),
                               _field("text", detail.item_text)))
        self.query_one("#user-verdict", Static).update(_verdict(detail.views.get("user")))
        self.query_one("#item-verdict", Static).update(_verdict(detail.views.get("item")))

        lines = [
            Text.assemble(
                (KIND_TEXT[detail.kind], "bold"), f" · score {detail.score:.2f} (rank {detail.rank}) · judge: ",
                (row.decision or "no decision", "bold"), " → ", (row.action, ACTION_STYLE[row.action])),
            Text(f"lm {detail.key.lm} · prompt {detail.key.prompt_hash}", style="dim", overflow="ellipsis",
                 no_wrap=True),
        ]
        # Third-party text that looks like instructions to the model, right under the decision.
        lines[1:1] = [Text.assemble(("⚠ ", "bold yellow"), (reason, "yellow")) for reason in detail.flags]
        for audit in detail.audits[:3]:
            lines.append(Text.assemble(
                "audit: ", audit_text(audit.audit), f" by {audit.auditor}, {audit.audited_at:%Y-%m-%d %H:%M} UTC",
                (f" · {audit.note}" if audit.note else "", "italic")))
        if not detail.audits:
            lines.append(Text("not audited yet", style="dim"))
        self.query_one("#detail-meta", Static).update(Group(*lines))
