"""The judge gate: whether the judge's measured accuracy clears the break-even that lets it edit G."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class JudgeGate:
    """Whether the judge may edit the graph: the lower bound of its balanced accuracy's 95% interval
    against the break-even (a judge below it costs more clean edges than it removes noise), unless forced.
    A judge of known accuracy (the analysis judges) has its accuracy as the bound; a measured one without an
    interval (fewer than two labeled users) does not pass."""

    accuracy: float | None
    break_even: float
    forced: bool = False
    source: str = ""
    break_even_source: str = "--gate-break-even"
    interval: tuple[float, float] | None = None
    exact: bool = False
    control: bool = False  # a control judge (random edits, score-only): no gate, it always edits

    @property
    def lower_bound(self) -> float | None:
        if self.accuracy is None:
            return None
        if self.exact:
            return self.accuracy
        return self.interval[0] if self.interval is not None else None

    @property
    def passes(self) -> bool:
        return self.lower_bound is not None and self.lower_bound >= self.break_even

    @property
    def open(self) -> bool:
        return self.passes or self.forced or self.control

    @property
    def reason(self) -> str:
        if self.control:
            return f"control judge ({self.source}): no gate, it edits by construction"
        if self.accuracy is None:
            text = ("the judge is not measured on a labeled set of this dataset and noise setting (run `python -m evals.judge "
                    "--dataset ...` with this LM and prompt)")
        elif self.exact:
            text = (f"judge balanced accuracy {self.accuracy:.3f} ({self.source}) "
                    f"{'>=' if self.passes else '<'} break-even {self.break_even:.2f} ({self.break_even_source})")
        elif self.interval is None:
            text = (f"judge balanced accuracy {self.accuracy:.3f} ({self.source}) has no confidence interval "
                    f"(too few labeled users), so it cannot be shown above break-even {self.break_even:.2f} "
                    f"({self.break_even_source}); label more pairs (python -m evals.labels)")
        else:
            low, high = self.interval
            text = (f"judge balanced accuracy {self.accuracy:.3f}, 95% interval {low:.3f}-{high:.3f} ({self.source}): "
                    f"lower bound {low:.3f} {'>=' if self.passes else '<'} break-even {self.break_even:.2f} "
                    f"({self.break_even_source})")
        return text + ("; --force-edit" if self.forced and not self.passes else "")

    def metrics(self) -> dict[str, float]:
        lower = self.lower_bound
        return {"gate_accuracy": float("nan") if self.accuracy is None else self.accuracy,
                "gate_lower_bound": float("nan") if lower is None else lower,
                "gate_break_even": self.break_even, "gate_passed": float(self.passes), "gate_open": float(self.open)}
