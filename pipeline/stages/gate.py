"""The judge gate: whether the judge's measured accuracy clears the break-even that lets it edit G."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class JudgeGate:
    """Whether the judge may edit the graph: its balanced accuracy against the break-even (a judge
    below it costs more clean edges than it removes noise), unless forced."""

    accuracy: float | None
    break_even: float
    forced: bool = False
    source: str = ""
    break_even_source: str = "--gate-break-even"

    @property
    def passes(self) -> bool:
        return self.accuracy is not None and self.accuracy >= self.break_even

    @property
    def open(self) -> bool:
        return self.passes or self.forced

    @property
    def reason(self) -> str:
        if self.accuracy is None:
            text = ("the judge is not measured on a labeled set of this dataset (run `python -m evals.judge "
                    "--dataset ...` with this LM and prompt)")
        else:
            text = (f"judge balanced accuracy {self.accuracy:.3f} ({self.source}) "
                    f"{'>=' if self.passes else '<'} break-even {self.break_even:.2f} ({self.break_even_source})")
        return text + ("; --force-edit" if self.forced and not self.passes else "")

    def metrics(self) -> dict[str, float]:
        return {"gate_accuracy": float("nan") if self.accuracy is None else self.accuracy,
                "gate_break_even": self.break_even, "gate_passed": float(self.passes), "gate_open": float(self.open)}
