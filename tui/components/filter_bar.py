"""The filter bar above the verdict list: every filter is a visible widget, and keys drive them too."""

from __future__ import annotations

from typing import get_args

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, Label, Select

from tui.messages import FiltersChanged
from tui.queries import ActionFilter, Filters, KindFilter, Sort, TruthFilter

ACTIONS: tuple[ActionFilter, ...] = get_args(ActionFilter)
KINDS: tuple[KindFilter, ...] = get_args(KindFilter)
SORTS: tuple[Sort, ...] = get_args(Sort)
TRUTHS: tuple[TruthFilter, ...] = get_args(TruthFilter)
# Self-describing option labels: the bar names only the key that drives each widget.
LABELS = {
    "action": {"any": "any action"},
    "kind": {"any": "any kind", "low_score_positive": "low-score pos", "high_score_negative": "high-score neg"},
    "sort": {"user": "by user", "score ascending": "score ↑", "score descending": "score ↓",
             "views disagree first": "disagree first", "truth": "by truth"},
    "truth": {"any": "any truth"},
}


def _options(values: tuple[str, ...], labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(labels.get(v, v), v) for v in values]


def _next(values: tuple, current) -> object:
    return values[(values.index(current) + 1) % len(values)]


class FilterBar(Horizontal):
    """Posts :class:`FiltersChanged` whenever a widget in it changes."""

    def __init__(self, filters: Filters, **kwargs) -> None:
        super().__init__(**kwargs)
        self._filters = filters

    def compose(self) -> ComposeResult:
        f = self._filters
        yield Label("/", classes="filter-label")
        yield Input(str(f.user) if f.user is not None else "", placeholder="user", id="user-filter", compact=True,
                    restrict=r"\d*", max_length=9)
        yield Label("a", classes="filter-label")
        yield Select(_options(ACTIONS, LABELS["action"]), value=f.action, allow_blank=False, id="action-filter",
                     compact=True)
        yield Select(_options(KINDS, LABELS["kind"]), value=f.kind, allow_blank=False, id="kind-filter", compact=True)
        yield Label("d", classes="filter-label")
        yield Checkbox("disagree", f.disagree, id="disagree-filter", compact=True)
        yield Label("o", classes="filter-label")
        yield Select(_options(SORTS, LABELS["sort"]), value=f.sort, allow_blank=False, id="sort", compact=True)
        yield Label("g", classes="filter-label")
        yield Checkbox("truth", f.show_truth, id="truth-toggle", compact=True)
        yield Select(_options(TRUTHS, LABELS["truth"]), value=f.truth, allow_blank=False, id="truth-filter",
                     compact=True, disabled=not f.show_truth)

    @property
    def filters(self) -> Filters:
        return self._filters

    def _update(self, **changes) -> None:
        new = self._filters.with_(**changes)
        if new != self._filters:
            self._filters = new
            self.post_message(FiltersChanged(new))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._update(user=int(event.value) if event.value else None)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        field = {"action-filter": "action", "kind-filter": "kind", "sort": "sort", "truth-filter": "truth"}
        self._update(**{field[event.select.id]: event.value})

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if event.checkbox.id == "truth-toggle":
            self.query_one("#truth-filter", Select).disabled = not event.value
            self._update(show_truth=event.value)
        else:
            self._update(disagree=event.value)

    # Keyboard shortcuts of the screen change the widgets, which then post the change.
    def toggle_disagree(self) -> None:
        self.query_one("#disagree-filter", Checkbox).toggle()

    def toggle_truth(self) -> None:
        self.query_one("#truth-toggle", Checkbox).toggle()

    def cycle_action(self) -> None:
        self.query_one("#action-filter", Select).value = _next(ACTIONS, self._filters.action)

    def cycle_sort(self) -> None:
        sorts = SORTS if self._filters.show_truth else tuple(s for s in SORTS if s != "truth")
        current = self._filters.sort if self._filters.sort in sorts else sorts[0]
        self.query_one("#sort", Select).value = _next(sorts, current)

    def focus_user(self) -> None:
        self.query_one("#user-filter", Input).focus()
