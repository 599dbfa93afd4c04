"""The judge's prompts, measured on the labeled hard/noise set (`python -m evals.judge` and
`python -m judge.optimize` run it).

Runs a saved dual-perspective program (the active `prompts/dual_judge.json`, with
``--verdict-mode listwise`` the active `prompts/listwise_judge.json`, or ``--prompt FILE``) with the
configured LM on one part of the labeled set (:mod:`judge.labels`, default: test), and
reports accuracy, balanced accuracy, macro-F1, Cohen's kappa, the confusion matrix, each view's
agreement with the labels and with the other view, the parse-failure rate, LM calls, tokens, cost
and time. The same table holds the trivial baselines (all-hard, all-noise, random, and the
rating-free embedding-similarity threshold tuned on dev), and, where the LM returned
log-probabilities, the calibrated judge: P(both views say High) against a threshold tuned on dev.
A listwise judge's report also says how often it agrees with the stored pairwise verdicts of
`prompts/dual_judge.json` on the same pairs (decisions, each view's labels, and Cohen's kappa).

Verdicts are stored like any other (keyed by LM and prompt hash), so a re-run pays for nothing twice,
a kill loses only the calls in flight, and the audit TUI can show them. Each judge's scores go to the
``judge_evals`` table, and the report is written as markdown plus a PNG under ``evals/reports/judge/``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field
from rich.console import Console
from rich.table import Table

from judge.calibration import hard_probability, tune_threshold
from judge.config import VerdictModeConfig, verdict_program_name
from judge.embeddings import EncoderConfig, encoder_identity
from judge.labels import LabelSet, LabelSetConfig, build_label_set
from judge.lm import LMConfig, lm_identity
from judge.plots import judge_dot_plot
from judge.programs import HardRule
from judge.prompts import PROMPTS_DIR, LoadedProgram, load_program
from judge.quality import (
    SCORE_JUDGES,
    balanced_accuracy,
    balanced_accuracy_of,
    classification_scores,
    judge_decisions,
    scores_by_kind,
    user_bootstrap,
    verdict_frame,
    with_decisions,
)
from judge.runner import RunnerConfig
from recsys.data.texts import profile_texts
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.store.judge_evals import JUDGE_EVAL_SCORES, insert_judge_eval
from recsys.store.labels import labeled_user_items

# The reports live with the other benchmark reports in evals/reports/judge, relative to the working directory
# (the CLIs run from the repository root); never through the package's own path, which an installed
# wheel puts in site-packages.
REPORT_DIR = Path("evals") / "reports" / "judge"


class JudgeEvalConfig(LabelSetConfig, EncoderConfig, LMConfig, RunnerConfig, VerdictModeConfig):
    """Which program to measure, on which part of the labeled set, with which LM."""

    prompt: Path | None = Field(None, description="The judge program file to measure (default: the active one of "
                                "--verdict-mode, prompts/dual_judge.json or prompts/listwise_judge.json).")
    prompts_dir: Path = Field(PROMPTS_DIR, description="Folder of the saved DSPy programs (profiles and the judge).")
    part: str = Field("test", pattern="^(train|dev|test)$", description="The labeled part to report on.")
    rule: HardRule = Field("both_high", description="How the two views' labels make a pair hard.")
    logprobs: bool = Field(True, description="Store label probabilities, for the calibrated judge (tuned on dev).")
    calibrate: bool = Field(True, description="Also judge the dev part, to tune the calibrated and the "
                            "embedding-similarity thresholds.")
    max_history: int = Field(15, gt=0, description="Training items shown per user profile.")
    random_seed: int = Field(0, description="Seed of the random baseline.")
    report_dir: Path = Field(REPORT_DIR, description="Where the markdown report and its plot go.")
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file.")


@dataclass
class JudgeContext:
    """What every judge evaluation on one labeled set needs: the set, the profiles, the programs."""

    store: Store
    labels: LabelSet
    user_program: LoadedProgram
    user_profiles: dict[int, str]
    lm: object | None = None  # the dspy.LM, once a call was due


def prepare(config: JudgeEvalConfig, console: Console) -> JudgeContext:
    """Build the labeled set and profile its users (both reuse what the store holds)."""
    from judge.jobs import ProfileJobConfig, run_profiles

    store = Store(config.store)
    with console.status("Building the labeled set (pretrains a backbone once per split)..."):
        labels = build_label_set(store, config, config.progress)
    user_program = load_program("profile_user", prompts_dir=config.prompts_dir)
    context = JudgeContext(store, labels, user_program, {})
    job = ProfileJobConfig(kinds=["user"], max_history=config.max_history, max_users=config.label_users)
    run_profiles(store, labels.split_id, user_program, load_program("profile_item", prompts_dir=config.prompts_dir),
                 config, config, job, config.seed, lm_setup=lambda: start_lm(config, context))
    context.user_profiles = profile_texts(store, labels.split_id, "user", lm_identity(config),
                                          user_program.prompt_hash)
    return context


def start_lm(config: LMConfig, context: JudgeContext) -> None:
    """Configure DSPy's LM once per process, only when a call is still to be made."""
    from judge.lm import configure_dspy

    if context.lm is None:
        context.lm = configure_dspy(config)


def judge_parts(context: JudgeContext, config: JudgeEvalConfig, program: LoadedProgram, parts: tuple[str, ...]):
    """Both views on every labeled pair of ``parts`` that has no stored verdict for this LM and prompt."""
    from judge.jobs import VerdictJobConfig, run_verdicts

    pairs = labeled_user_items(context.store, context.labels.label_set, parts)
    return run_verdicts(context.store, context.labels.label_set, program, context.user_program.prompt_hash,
                        config, config, VerdictJobConfig(verdict_mode=program_mode(program),
                                                         listwise_max_candidates=config.listwise_max_candidates),
                        config.seed,
                        lm_setup=lambda: start_lm(config, context), only=pairs)


def program_mode(program: LoadedProgram) -> str:
    """The verdict mode a loaded judge program runs in (its name says it)."""
    return next(mode for mode in ("pairwise", "listwise") if verdict_program_name(mode) == program.name)


def judge_scores(frame: pd.DataFrame, rule: HardRule) -> dict:
    """The judge's scores plus what only an LM judge has: per-view agreement, failures, cost."""
    gold = (frame.label == "hard").to_numpy()
    scores = classification_scores(gold, judge_decisions(frame, rule))
    views = {}
    for view in ("user", "item"):
        ok = frame[f"{view}_status"] == "ok"
        said_high = (frame[f"{view}_label"] == "High").to_numpy()
        views[view] = {
            "agreement_with_labels": float((said_high[ok] == gold[ok]).mean()) if ok.any() else float("nan"),
            "labels": {label: int((frame[f"{view}_label"] == label).sum()) for label in ("High", "Mid", "Low")},
        }
    both = (frame.user_status == "ok") & (frame.item_status == "ok")
    calls = int(frame.user_status.notna().sum() + frame.item_status.notna().sum())
    parse_failures = int((frame.user_error == "parse").sum() + (frame.item_error == "parse").sum())
    failures = int((frame.user_status == "failed").sum() + (frame.item_status == "failed").sum())
    by_kind = {kind: classification_scores(gold[(frame.kind == kind).to_numpy()],
                                           judge_decisions(frame[frame.kind == kind], rule))["accuracy"]
               for kind in sorted(frame.kind.unique())}
    return scores | {
        "balanced_accuracy_ci": user_bootstrap(with_decisions(frame, rule), lambda sample: balanced_accuracy_of(sample, rule)),
        "parse_failure_rate": parse_failures / calls if calls else float("nan"),
        "failure_rate": failures / calls if calls else float("nan"),
        "unjudged_pairs": int((frame.user_status.isna() | frame.item_status.isna()).sum()),
        "views": views,
        "views_agree": float((frame.user_label[both] == frame.item_label[both]).mean()) if both.any() else float("nan"),
        "accuracy_by_kind": by_kind,
        "by_kind": scores_by_kind(frame, rule),
        "lm_calls": int(frame.lm_calls.sum()),
        "prompt_tokens": int(frame.prompt_tokens.sum()),
        "completion_tokens": int(frame.completion_tokens.sum()),
        "cost": float(frame.cost.sum()),
        "seconds": float(frame.seconds.sum()),
    }


def calibrated_scores(dev: pd.DataFrame, test: pd.DataFrame) -> dict | None:
    """P(both High) thresholded at the dev-tuned value; None without label probabilities."""

    def probability(frame: pd.DataFrame) -> pd.Series:
        usable = frame.user_probs.notna() & frame.item_probs.notna()
        return pd.Series([hard_probability(json.loads(u), json.loads(i)) if ok else np.nan
                          for u, i, ok in zip(frame.user_probs, frame.item_probs, usable)], index=frame.index)

    dev_p, test_p = probability(dev), probability(test)
    dev_ok, test_ok = dev_p.notna(), test_p.notna()
    dev_gold = dev.label[dev_ok] == "hard"
    if not test_ok.any() or dev_gold.nunique() < 2:
        return None
    threshold = tune_threshold(dev_p[dev_ok], dev_gold)
    # Pairs without probabilities fall back, as the plain judge does, to what the pipeline leaves.
    predicted = np.where(test_ok, test_p.fillna(0) >= threshold, test.kind == "low_score_positive")
    return classification_scores(test.label == "hard", predicted) | {
        "threshold": threshold, "pairs_with_probabilities": int(test_ok.sum()), "dev_pairs_tuned_on": int(dev_ok.sum())}


def mode_agreement(frame: pd.DataFrame, other: pd.DataFrame, rule: HardRule) -> dict:
    """How one judge's verdicts (``frame``) agree with another's (``other``, e.g. listwise against
    pairwise) on the labeled pairs both judged with both views: decisions, Cohen's kappa between the
    two judges' decisions, and each view's labels."""
    from sklearn.metrics import cohen_kappa_score

    merged = frame.merge(other, on=["user_idx", "item_idx"], suffixes=("", "_other"))
    both = ((merged.user_status == "ok") & (merged.item_status == "ok")
            & (merged.user_status_other == "ok") & (merged.item_status_other == "ok"))
    merged = merged[both]
    # The balanced-accuracy difference on every pair (failed views count as left alone, as in the scores).
    paired = frame.merge(other, on=["user_idx", "item_idx"], suffixes=("", "_other"))
    difference = {}
    if len(paired) and other.user_status.notna().any():
        theirs = paired.rename(columns=lambda c: c.removesuffix("_other") if c.endswith("_other") else f"{c}_mine")
        paired = paired[["user_idx", "label"]].assign(mine=judge_decisions(paired, rule),
                                                      theirs=judge_decisions(theirs, rule))

        def gap(sample: pd.DataFrame) -> float:
            gold = sample.label == "hard"
            return balanced_accuracy(gold, sample.mine) - balanced_accuracy(gold, sample.theirs)
        difference = {"balanced_accuracy_difference": gap(paired),
                      "balanced_accuracy_difference_ci": user_bootstrap(paired, gap)}
    if merged.empty:
        return {"pairs": 0} | difference
    mine = judge_decisions(merged, rule)
    theirs = judge_decisions(merged.rename(columns=lambda c: c.removesuffix("_other") if c.endswith("_other")
                                           else f"{c}_mine"), rule)
    single = len(set(mine) | set(theirs)) < 2
    return {
        "pairs": len(merged),
        "decisions_agree": float((mine == theirs).mean()),
        "decision_kappa": 1.0 if single and (mine == theirs).all() else (
            0.0 if single else float(cohen_kappa_score(mine, theirs))),
        "user_labels_agree": float((merged.user_label == merged.user_label_other).mean()),
        "item_labels_agree": float((merged.item_label == merged.item_label_other).mean()),
    } | difference


def with_similarity(context: JudgeContext, config: JudgeEvalConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``minilm_similarity``: the cosine of the user's and the item's text vectors (the
    encoder of ``config``, MiniLM by default), an LM-free trivial judge."""
    from judge.embeddings import Encoder  # loads sentence-transformers: only where a report needs it
    from recsys.denoising.semantic import cached_encode, entity_texts

    if frame.empty:
        return frame.assign(minilm_similarity=pd.Series(dtype=float))
    users_text, items_text, _ = entity_texts(context.store, context.labels.split_id, lm_identity(config),
                                             context.user_program.prompt_hash, None, config.max_history)
    encoder = Encoder(config)
    users = cached_encode(context.store, encoder, [users_text[u] for u in frame.user_idx])
    items = cached_encode(context.store, encoder, [items_text[i] for i in frame.item_idx])
    users /= np.linalg.norm(users, axis=1, keepdims=True)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    return frame.assign(minilm_similarity=(users * items).sum(1))


def baseline_scores(config: JudgeEvalConfig, dev: pd.DataFrame, test: pd.DataFrame) -> dict[str, dict]:
    """Trivial judges every LM number reads against; none of them sees a rating. ``dev`` and ``test`` carry
    ``minilm_similarity`` (see :func:`with_similarity`); its threshold is tuned on dev."""
    gold = (test.label == "hard").to_numpy()
    rng = np.random.default_rng(config.random_seed)
    baselines = {
        "all-hard": classification_scores(gold, np.ones_like(gold)),
        "all-noise": classification_scores(gold, np.zeros_like(gold)),
        "random": classification_scores(gold, rng.random(gold.size) < 0.5),
    }
    if len(dev) and dev.label.nunique() == 2:
        threshold = tune_threshold(dev.minilm_similarity, dev.label == "hard")
        baselines["embedding-similarity"] = classification_scores(gold, test.minilm_similarity >= threshold) | {
            "threshold": threshold, "encoder": encoder_identity(config)}
    return baselines


def record_eval(store: Store, label_set: str, part: str, judge: str, scores: dict, lm: str | None = None,
                program: LoadedProgram | None = None, rule: str | None = None) -> str:
    eval_id = uuid.uuid4().hex[:12]
    details = {key: value for key, value in scores.items() if key not in JUDGE_EVAL_SCORES}
    insert_judge_eval(store, eval_id, label_set, part, judge, lm, program.prompt_hash if program else None,
                      str(program.path) if program else None, rule, scores, json.dumps(details))
    return eval_id


@dataclass
class JudgeReport:
    label_set: str
    part: str
    program: LoadedProgram
    rows: dict[str, dict]  # judge name -> scores

    @property
    def judge_name(self) -> str:
        return f"llm:{self.program.path.stem}"


def evaluate_program(context: JudgeContext, config: JudgeEvalConfig, program: LoadedProgram,
                     console: Console, extra: dict | None = None) -> JudgeReport:
    """Judge the labeled part (and dev, for the tuned thresholds), score it, record every row
    (``extra``, e.g. how an optimizer made the program, goes into the LM rows' details)."""
    parts = (config.part, "dev") if config.calibrate and config.part != "dev" else (config.part,)
    stats = judge_parts(context, config, program, parts)
    if stats.status == "budget_exhausted":
        console.print("[yellow]The LM budget stopped the verdicts early: unjudged pairs count as left alone.")
    lm = lm_identity(config)
    label_set = context.labels.label_set
    frame = verdict_frame(context.store, label_set, lm, program.prompt_hash, parts)
    if config.calibrate:
        frame = with_similarity(context, config, frame)
    test, dev = frame[frame.part == config.part], frame[frame.part == "dev"]
    report = JudgeReport(label_set, config.part, program, {})
    report.rows[report.judge_name] = judge_scores(test, config.rule)
    if program.name == "listwise_judge":  # the same pairs, judged pairwise (stored verdicts; no LM call)
        pairwise = load_program("dual_judge", prompts_dir=config.prompts_dir, rule=config.rule)
        other = verdict_frame(context.store, label_set, lm, pairwise.prompt_hash, (config.part,))
        report.rows[report.judge_name]["agreement_with_pairwise"] = mode_agreement(test, other, config.rule) | {
            "pairwise_prompt_hash": pairwise.prompt_hash}
    if config.calibrate:
        calibrated = calibrated_scores(dev, test)
        if calibrated is not None:
            report.rows[f"llm-calibrated:{program.path.stem}"] = calibrated
        report.rows |= {f"baseline:{name}": scores
                        for name, scores in baseline_scores(config, dev, test).items()}
    for name, scores in report.rows.items():
        is_llm = name.startswith("llm")
        if is_llm and extra:
            scores = scores | extra
        record_eval(context.store, label_set, config.part, name, scores, lm if is_llm else None,
                    program if is_llm else None, config.rule if is_llm else None)
    return report


def _cell(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


SCORE_COLUMNS = ("accuracy", "balanced_accuracy", "macro_f1", "kappa")


def scores_table(rows: dict[str, dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("judge", "pairs", *SCORE_COLUMNS, "parse failures", "LM calls", "seconds"):
        table.add_column(column, justify="left" if column == "judge" else "right")
    for name, scores in rows.items():
        table.add_row(name, str(scores["n_pairs"]), *(_cell(scores.get(c)) for c in SCORE_COLUMNS),
                      _cell(scores.get("parse_failure_rate")), _cell(scores.get("lm_calls")),
                      _cell(scores.get("seconds"), 0))
    return table


def markdown_report(report: JudgeReport, config: JudgeEvalConfig, command: str, plot_name: str) -> str:
    judge = report.rows[report.judge_name]
    lines = [
        f"# Judge evaluation: `{report.program.path.name}` on the labeled {report.part} part",
        "",
        f"- Command: `{command}`",
        f"- Labeled set: `{report.label_set}`",
        f"- LM: `{lm_identity(config)}`; prompt hash `{report.program.prompt_hash}`; rule `{config.rule}`",
        "- Pairs a view failed on count as left alone (a positive kept, a negative not added).",
        "",
        "| judge | pairs | accuracy | balanced acc. | macro-F1 | κ | parse failures | LM calls | tokens | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report.rows.items():
        tokens = (s.get("prompt_tokens") or 0) + (s.get("completion_tokens") or 0)
        lines.append(f"| {name} | {s['n_pairs']} | " + " | ".join(_cell(s.get(c)) for c in SCORE_COLUMNS)
                     + f" | {_cell(s.get('parse_failure_rate'))} | {_cell(s.get('lm_calls'))} | "
                     f"{tokens or '–'} | {_cell(s.get('seconds'), 0)} |")
    if judge.get("balanced_accuracy_ci"):
        low, high = judge["balanced_accuracy_ci"]
        lines += ["", (f"The judge's balanced accuracy, 95% interval over resampled test users (1,000 draws): "
                       f"{low:.3f} to {high:.3f}.")]
    lines += ["", *kind_section(judge.get("by_kind", {}))]
    c = judge["confusion"]
    lines += [
        "",
        "## The judge's confusion (rows: label, columns: decision)",
        "",
        "| | judged hard | judged noise |",
        "|---|---|---|",
        f"| hard | {c['hard_as_hard']} | {c['hard_as_noise']} |",
        f"| noise | {c['noise_as_hard']} | {c['noise_as_noise']} |",
        "",
        "## Per view",
        "",
        "| view | says High = hard, agreement with labels | High | Mid | Low |",
        "|---|---|---|---|---|",
    ]
    for view, v in judge["views"].items():
        lines.append(f"| {view} | {_cell(v['agreement_with_labels'])} | "
                     + " | ".join(str(v["labels"][label]) for label in ("High", "Mid", "Low")) + " |")
    lines += ["", f"The two views give the same label on {_cell(judge['views_agree'])} of the pairs. "
              "Accuracy by pair kind: " + ", ".join(f"{kind} {_cell(acc)}" for kind, acc in
                                                    judge["accuracy_by_kind"].items()) + ".", "",
              f"![scores]({plot_name})", ""]
    agreement = judge.get("agreement_with_pairwise")
    if agreement is not None:
        lines[-2:-2] = [
            "## Agreement with the pairwise judge", "",
            (f"On the {agreement['pairs']} pairs that both this judge and the pairwise `dual_judge.json` "
             f"(prompt hash `{agreement['pairwise_prompt_hash']}`) judged with both views: decisions agree on "
             f"{_cell(agreement.get('decisions_agree'))} (Cohen's κ {_cell(agreement.get('decision_kappa'))}), "
             f"user-view labels on {_cell(agreement.get('user_labels_agree'))}, item-view labels on "
             f"{_cell(agreement.get('item_labels_agree'))}. Balanced accuracy, this judge minus the pairwise one: "
             f"{_cell(agreement.get('balanced_accuracy_difference'))}"
             + (" (95% interval over resampled users {:.3f} to {:.3f}).".format(
                 *agreement["balanced_accuracy_difference_ci"]) if agreement.get("balanced_accuracy_difference_ci")
                else ".") if agreement["pairs"] else
             "No pair has ok verdicts of both views from both this judge and the pairwise one (for this LM): "
             "nothing to compare (run `python -m evals.judge` pairwise first, or see this judge's failures)."), ""]
    return "\n".join(lines)


def kind_section(by_kind: dict[str, dict]) -> list[str]:
    """Each pair kind apart: its base rate, abstentions, and the judge beside the trivial judges."""
    if not by_kind:
        return []
    lines = ["## By pair kind (what the gate reads: the kind the edit acts on)", "",
             ("Only pairs both views decided are scored; a failed or skipped view is an abstention. Within one "
              "kind the trivial judges are constant (balanced accuracy 0.5), so the judge's balanced accuracy there "
              "is what it adds over the kind's base rate."), "",
             "| kind | pairs | abstentions | noise base rate | judge | accuracy | balanced acc. (95% interval) | κ "
             "| AUC (95% interval) |",
             "|---|---|---|---|---|---|---|---|---|"]

    def with_interval(value, interval) -> str:
        return _cell(value) + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")

    for kind, scores in by_kind.items():
        names = ["judge", "leave alone", "by kind", *(name for name in SCORE_JUDGES.values() if name in scores)]
        for name in names:
            s = scores[name]
            first = [kind, str(scores["pairs"]), str(scores["abstentions"]), _cell(scores["base_rate_noise"])] \
                if name == "judge" else ["", "", "", ""]
            lines.append("| " + " | ".join([
                *first, name, _cell(s.get("accuracy")),
                with_interval(s.get("balanced_accuracy"), s.get("balanced_accuracy_ci")), _cell(s.get("kappa")),
                with_interval(s["auc"], s.get("auc_ci")) if "auc" in s else "–"]) + " |")
    lines += ["", ("The score judges read no LM: the pretrained backbone's score that picked the pair, and the "
                   "MiniLM cosine of the user's and the item's texts. Their AUC needs no threshold (0.5 reads "
                   "nothing); a judge has to beat them to add what they do not already know.")]
    return lines


def write_report(report: JudgeReport, config: JudgeEvalConfig, command: str) -> Path:
    config.report_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{report.program.path.stem}-{report.part}"
    plot = config.report_dir / f"{stem}.png"
    judge_dot_plot(report.rows, plot, f"{report.program.path.name} on {report.part} "
                                   f"({report.rows[report.judge_name]['n_pairs']} pairs)")
    path = config.report_dir / f"{stem}.md"
    path.write_text(markdown_report(report, config, command, plot.name))
    return path
