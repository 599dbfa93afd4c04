"""`python -m judge.optimize`: a DSPy optimizer tunes the judge's prompts on the labeled set.

The optimizer compiles the dual-perspective judge (both views' instructions and demos; with
``--verdict-mode listwise`` the listwise judge, `prompts/listwise_judge.json`) against the labeled train part (and dev, for the optimizers that search), with a metric that scores the rule's
hard/noise decision. Its own LM calls are capped by ``--max-lm-calls``. The compiled program is
saved under prompts/ as a new file; it replaces the active one only with ``--promote``, and never
when it scores worse on dev than the program it started from. Both programs are then measured on
the labeled test part by :mod:`judge.evaluation`, and the before/after scores are printed and recorded.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import dspy
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table

from judge.config import verdict_program_name
from judge.evaluation import (
    JudgeContext,
    JudgeEvalConfig,
    JudgeReport,
    evaluate_program,
    prepare,
    start_lm,
    write_report,
)
from judge.labels import judge_examples, listwise_examples
from judge.prompts import LoadedProgram, load_program, prompt_path, save_program
from recsys.cli import run_cli
from recsys.data.datasets import DataValidationError
from recsys.store import StoreLockedError

Optimizer = Literal["LabeledFewShot", "BootstrapFewShot", "BootstrapFewShotWithRandomSearch", "MIPROv2", "GEPA"]


class OptimizeConfig(JudgeEvalConfig):
    """The optimizer, its LM-call budget, and where the compiled program goes."""

    optimizer: Optimizer = Field("BootstrapFewShot", description="The DSPy optimizer to compile with.")
    max_lm_calls: int = Field(300, gt=0, description="Most LM calls the optimizer itself may make "
                              "(the dev and test measurements are stored verdicts, counted apart).")
    max_demos: int = Field(4, ge=0, description="Demos per view (bootstrapped and labeled alike).")
    train_size: int | None = Field(60, gt=0, description="Labeled train examples the optimizer draws on (the first N: "
                                   "pairs; with --verdict-mode listwise, users or their chunks).")
    valset_size: int = Field(20, gt=0, description="Dev pairs that the searching optimizers score candidates on.")
    candidate_programs: int = Field(2, gt=0, description="Random candidates of BootstrapFewShotWithRandomSearch; "
                                    "instruction candidates of MIPROv2.")
    trials: int = Field(4, gt=0, description="MIPROv2 search trials.")
    num_threads: int = Field(2, gt=0, description="Parallel program runs inside the optimizer.")
    out: Path | None = Field(None, description="Where to save the compiled program "
                             "(default: prompts/<judge>.<optimizer>.json, judge dual_judge or listwise_judge).")
    promote: bool = Field(False, description="Make the compiled program the active prompts/<judge>.json "
                          "(dual_judge, or listwise_judge with --verdict-mode listwise), unless it scores worse on dev.")

    @property
    def judge_name(self) -> str:
        return verdict_program_name(self.verdict_mode)


class LMBudgetExhausted(RuntimeError):
    """The optimizer asked for more LM calls than its budget allows."""


class CallBudget:
    """A thread-safe count of LM calls that refuses the call past ``max_calls``."""

    def __init__(self, max_calls: int):
        self.max_calls, self.calls, self.refused = max_calls, 0, 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.calls >= self.max_calls:
                self.refused += 1
                raise LMBudgetExhausted(f"the optimizer's budget of {self.max_calls} LM calls is spent")
            self.calls += 1


@contextmanager
def call_budget(lm: dspy.BaseLM, budget: CallBudget) -> Iterator[CallBudget]:
    """Count every call of ``lm`` and of the copies optimizers make of it (they share the class)."""
    original = type(lm)

    class Budgeted(original):
        def __call__(self, *args, **kwargs):
            budget.take()
            return super().__call__(*args, **kwargs)

    lm.__class__ = Budgeted
    try:
        yield budget
    finally:
        lm.__class__ = original


def hard_noise_metric(example: dspy.Example, prediction: dspy.Prediction, trace=None) -> bool:
    """1 when the judge's combined hard/noise decision matches the label. Inside bootstrapping
    (``trace`` set) it gates which runs become demos."""
    return bool(prediction.hard) == bool(example.hard)


def listwise_metric(example: dspy.Example, prediction: dspy.Prediction, trace=None) -> float | bool:
    """The share of the user's candidates whose hard/noise decision matches the label (a candidate
    without a usable answer counts as wrong); inside bootstrapping, True only when all match."""
    correct = [decided is not None and bool(decided) == bool(gold) for decided, gold in zip(prediction.hard, example.hard)]
    score = sum(correct) / len(example.hard) if example.hard else 0.0
    return score == 1.0 if trace is not None else score


def listwise_gepa_metric(example, prediction, trace=None, pred_name=None, pred_trace=None) -> dspy.Prediction:
    """GEPA's feedback metric for the listwise judge: the score, and per candidate what went wrong."""
    wrong = []
    for number, (gold, decided, user, item) in enumerate(zip(example.hard, prediction.hard, prediction.user_labels,
                                                            prediction.item_labels), start=1):
        if decided is None or bool(decided) != bool(gold):
            truth = "a real preference (hard)" if gold else "an item the user did not like (noise)"
            wrong.append(f"candidate {number} is {truth}, but the views said user={user}, item={item}")
    feedback = ("Correct on every candidate." if not wrong else
                "Wrong: " + "; ".join(wrong) + ". Both views must say High only for a real preference, and "
                "every candidate number needs exactly one verdict.")
    return dspy.Prediction(score=float(listwise_metric(example, prediction)), feedback=feedback)


def gepa_metric(example, prediction, trace=None, pred_name=None, pred_trace=None) -> dspy.Prediction:
    """GEPA's feedback metric: the score, and a sentence the reflection LM can act on."""
    correct = hard_noise_metric(example, prediction)
    truth = "a real preference (hard)" if example.hard else "an item the user did not like (noise)"
    feedback = f"Correct: the pair is {truth}." if correct else (
        f"Wrong: the pair is {truth}, but the views said user={prediction.user_verdict.label}, "
        f"item={prediction.item_verdict.label}; both must say High only for a real preference.")
    return dspy.Prediction(score=float(correct), feedback=feedback)


def compile_program(config: OptimizeConfig, student: dspy.Module, trainset: list, valset: list) -> dspy.Module:
    """Run the chosen optimizer; LM errors inside it (the budget included) are its failures."""
    demos = config.max_demos
    listwise = config.verdict_mode == "listwise"
    metric = listwise_metric if listwise else hard_noise_metric
    feedback_metric = listwise_gepa_metric if listwise else gepa_metric
    if config.optimizer == "LabeledFewShot":
        return dspy.LabeledFewShot(k=demos).compile(student, trainset=trainset)
    if config.optimizer == "BootstrapFewShot":
        return dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=demos,
                                     max_labeled_demos=demos, max_errors=len(trainset)).compile(student, trainset=trainset)
    if config.optimizer == "BootstrapFewShotWithRandomSearch":
        return dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, max_bootstrapped_demos=demos, max_labeled_demos=demos,
            num_candidate_programs=config.candidate_programs, num_threads=config.num_threads,
            max_errors=len(trainset) + len(valset)).compile(student, trainset=trainset, valset=valset)
    if config.optimizer == "MIPROv2":
        return dspy.MIPROv2(
            metric=metric, auto=None, num_candidates=config.candidate_programs,
            max_bootstrapped_demos=demos, max_labeled_demos=demos, num_threads=config.num_threads,
            seed=config.seed, max_errors=len(trainset) + len(valset),
        ).compile(student, trainset=trainset, valset=valset, num_trials=config.trials,
                  minibatch_size=min(len(valset), 10))
    if config.optimizer == "GEPA":
        # Each metric call runs both views once: half the budget, the rest left for reflection.
        return dspy.GEPA(metric=feedback_metric, max_metric_calls=max(config.max_lm_calls // 4, 1),
                         reflection_lm=dspy.settings.lm, num_threads=config.num_threads, seed=config.seed,
                         track_stats=False).compile(student, trainset=trainset, valset=valset)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def default_out(config: OptimizeConfig) -> Path:
    return config.out or config.prompts_dir / f"{config.judge_name}.{config.optimizer.lower()}.json"


def run_optimizer(config: OptimizeConfig, context: JudgeContext, start: LoadedProgram, console: Console
                  ) -> tuple[LoadedProgram, dict]:
    """Compile from ``start`` on the labeled train (and dev) pairs, save it, and say what it cost."""
    if config.verdict_mode == "listwise":  # one example per user (and chunk): what one listwise call sees
        trainset, valset = (listwise_examples(context.store, context.labels.label_set, (part,), context.user_profiles,
                                              config.listwise_max_candidates) for part in ("train", "dev"))
    else:
        trainset = judge_examples(context.store, context.labels.label_set, ("train",), context.user_profiles)
        valset = judge_examples(context.store, context.labels.label_set, ("dev",), context.user_profiles)
    trainset, valset = trainset[: config.train_size], valset[: config.valset_size]
    if not trainset:
        raise DataValidationError("the labeled train part is empty (no labeled pairs with a user profile)")
    start_lm(config, context)
    budget = CallBudget(config.max_lm_calls)
    began = time.perf_counter()
    with console.status(f"{config.optimizer}: compiling on {len(trainset)} train / {len(valset)} dev pairs "
                        f"(at most {config.max_lm_calls} LM calls)..."), call_budget(dspy.settings.lm, budget):
        compiled = compile_program(config, start.program.deepcopy(), trainset, valset)
    seconds = time.perf_counter() - began
    out = default_out(config)
    save_program(compiled, out)
    optimized = load_program(config.judge_name, path=out, rule=config.rule)
    info = {"optimizer": config.optimizer, "optimizer_lm_calls": budget.calls, "optimizer_seconds": seconds,
            "budget": config.max_lm_calls, "budget_refused_calls": budget.refused, "started_from": str(start.path),
            "demos": {name: len(predictor.demos) for name, predictor in compiled.named_predictors()},
            "train_pairs": len(trainset), "valset_pairs": len(valset)}
    if budget.refused:
        console.print(f"[yellow]The budget refused {budget.refused} calls: {config.optimizer} worked with what "
                      f"{config.max_lm_calls} calls gave it.")
    return optimized, info


def optimize(config: OptimizeConfig, console: Console) -> dict:
    """Compile, compare on dev, measure on test, and promote only a program that is not worse on dev."""
    context = prepare(config, console)
    start = load_program(config.judge_name, path=config.prompt, prompts_dir=config.prompts_dir, rule=config.rule)
    optimized, info = run_optimizer(config, context, start, console)
    dev_config = config.model_copy(update={"part": "dev", "calibrate": False})
    dev = {name: evaluate_program(context, dev_config, program, console, extra=extra)
           for name, program, extra in (("before", start, None), ("after", optimized, info))}
    test = {name: evaluate_program(context, config, program, console, extra=extra)
            for name, program, extra in (("before", start, None), ("after", optimized, info))}
    dev_before, dev_after = (dev[name].rows[dev[name].judge_name]["balanced_accuracy"] for name in ("before", "after"))
    not_worse = dev_after >= dev_before
    promoted = False
    if config.promote and not_worse:
        shutil.copyfile(optimized.path, prompt_path(config.judge_name, config.prompts_dir))
        promoted = True
    return {"info": info, "dev": dev, "test": test, "not_worse_on_dev": not_worse, "promoted": promoted,
            "out": optimized.path}


def before_after_table(result: dict) -> Table:
    table = Table(title=f"{result['info']['optimizer']}: before and after (balanced accuracy / macro-F1 / κ)")
    for column in ("part", "before", "after"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for part in ("dev", "test"):
        cells = []
        for name in ("before", "after"):
            report: JudgeReport = result[part][name]
            s = report.rows[report.judge_name]
            cells.append(f"{s['balanced_accuracy']:.3f} / {s['macro_f1']:.3f} / {s['kappa']:.3f}")
        table.add_row(f"{part} ({result[part]['after'].rows[result[part]['after'].judge_name]['n_pairs']} pairs)",
                      *cells)
    return table


class OptimizeCli(BaseSettings, OptimizeConfig):
    """Optimize the judge's prompts with a DSPy optimizer against the labeled hard/noise set."""

    model_config = SettingsConfigDict(cli_prog_name="python -m judge.optimize", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True,
                                      cli_hide_none_type=True)

    def cli_cmd(self) -> None:
        from recsys.cli import configure_logging

        configure_logging()  # the judge jobs' notes (skipped calls, batches) show as under `python -m judge`
        console = Console(stderr=True)
        try:
            result = optimize(self, console)
        except (DataValidationError, StoreLockedError, FileNotFoundError, ValueError) as error:
            console.print(f"[red]error:[/] {error}")
            sys.exit(2)
        Console(width=160).print(before_after_table(result))
        report = write_report(result["test"]["after"], self, "python -m judge.optimize " + " ".join(sys.argv[1:]))
        console.print(f"test report of the compiled program: {report}")
        info = result["info"]
        console.print(f"saved {result['out']} ({info['optimizer_lm_calls']} optimizer LM calls, "
                      f"{info['optimizer_seconds']:.0f} s; demos {info['demos']})")
        if not result["not_worse_on_dev"]:
            console.print("[yellow]not promoted:[/] it scores worse on dev than the program it started from.")
        elif result["promoted"]:
            console.print(f"promoted: {result['out'].name} is now the active {self.judge_name}.json")
        else:
            console.print("not promoted (pass --promote to make it the active prompt).")


if __name__ == "__main__":
    run_cli(OptimizeCli)
