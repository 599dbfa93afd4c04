"""The stages every method is built from, each reusing what the store already holds:

    data → profiles → embeddings → alignment → pretrain + candidates → verdicts → graph edit → train

* data: ingest the dataset and make the noisy split (once per data config);
* profiles: LLM user and item profiles (resumable; skipped rows are never paid twice);
* embeddings: encode entity texts (cached per encoder and text hash);
* alignment: train the projector g, build the FAISS index and each user's semantic neighbours;
* pretrain + candidates: a backbone on the noisy data picks the pairs to judge (once per backbone config);
* verdicts: both judge views on every candidate pair (resumable);
* graph edit: decisions → G', and the hard-vs-noise confusion against the ground truth;
* train: the method's objective, recorded as one run (:meth:`Stages.train`).

A method (:mod:`pipeline.methods`) calls the stages it needs, in order. The LM stages import the judge
(:mod:`judge`) where they run: DSPy and LiteLLM take seconds to load, and `--help`, the floors and the
training-only baselines never need them (evals/reports/startup.md). The judge never imports this package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.markup import escape

from judge.embeddings import Encoder
from pipeline import lab
from pipeline.stages.gate import JudgeGate
from pipeline.stages.report import NON_RESULT_FIELDS, BudgetExhausted, IncompleteJudge, PipelineReport
from recsys.data.datasets import DataValidationError
from recsys.data.split import SplitData, load_split, make_split, split_summary
from recsys.data.texts import IMPORTED, imported_vectors, profile_texts
from recsys.denoising.candidates import CandidateConfig, PretrainConfig, pretrain_candidates
from recsys.denoising.decisions import (
    CONTROL_JUDGES,
    GROUND_TRUTH_JUDGES,
    augmented_graph,
    confusion_metrics,
    hard_noise_confusion,
    llm_decisions,
    oracle_decisions,
    random_edit_decisions,
    score_only_decisions,
    simulated_decisions,
)
from recsys.denoising.semantic import (
    AlignmentConfig,
    SemanticIndex,
    cached_encode,
    entity_texts,
    pseudo_positive_pairs,
    ranking_auc,
    train_projector,
)
from recsys.store import Store
from recsys.store.candidates import candidate_counts_by_kind, candidate_reach, judged_candidate_users
from recsys.store.judgments import count_failed_rows
from recsys.training.runs import record_training
from recsys.training.threads import apply_threads
from recsys.training.trainer import TrainResult, fit


class Stages:
    """Runs and times the stages for one method's config (its option groups, :mod:`pipeline.options`)."""

    def __init__(self, config, console: Console):
        self.config = config
        self.console = console
        self.store = Store(config.store)
        self.report = PipelineReport()
        self.closed_gate: JudgeGate | None = None  # set when the LLM judge's gate closed before its stages
        self.threads = apply_threads(getattr(config, "threads", None))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.console.rule(f"[bold]{name}", align="left", style="dim")
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.report.stage_seconds[name] = seconds
        self.console.print(f"[green]✓[/] {name}: {self.report.notes.get(name, 'done')} [dim]({seconds:.1f} s)[/]")

    def note(self, name: str, text: str) -> None:
        self.report.notes[name] = text

    # -- data -----------------------------------------------------------------------------------
    def data_warning(self, message: str) -> None:
        self.console.print(f"[yellow]data:[/] {escape(message)}", soft_wrap=True)

    def data(self) -> SplitData:
        with self.stage("data"):
            split_id = make_split(self.store, self.config.data_config(), report=self.data_warning)
            s = split_summary(self.store, split_id)
            self.note("data", f"{split_id}: {s['n_users_kept']} users, train {s['n_train_clean']} clean + "
                              f"{s['n_train_noise']} injected, valid {s['n_valid']}, test {s['n_test']}; "
                              f"torch on {self.threads} thread{'s' if self.threads > 1 else ''}")
            return load_split(self.store, split_id)

    # -- LLM stages -----------------------------------------------------------------------------
    def programs(self, names: tuple[str, ...] = ("profile_user", "profile_item", "dual_judge")):
        from judge.config import verdict_program_name
        from judge.prompts import load_program

        # "dual_judge" is the judge of --verdict-mode: pairwise (dual_judge) or listwise (listwise_judge).
        mode = getattr(self.config, "verdict_mode", "pairwise")
        return {name: load_program(verdict_program_name(mode) if name == "dual_judge" else name,
                                   prompts_dir=self.config.prompts_dir) for name in names}

    def lm_setup(self):
        from judge.lm import configure_dspy

        with self.console.status("Starting the language model...", spinner="dots"):
            return configure_dspy(self.config)

    def profiles(self, split_id: str, programs, kinds: tuple[str, ...] = ("user", "item"),
                 judged_users: list[int] = ()) -> None:
        """Profiles of the first --max-users users, plus every user with a judged pair (the user view
        reads the profile), and of the --max-items most popular items."""
        from judge.jobs import ProfileJobConfig, run_profiles
        from judge.lm import lm_identity

        config = self.config
        if config.profiles == IMPORTED:
            with self.stage("profiles"):
                counts = {kind: len(profile_texts(self.store, split_id, kind, IMPORTED, IMPORTED)) for kind in kinds}
                if not counts.get("user") and "user" in kinds:
                    raise DataValidationError("--profiles imported, but the dataset shipped no user profiles "
                                              "(usr_prf.pkl); use --profiles llm.")
                self.note("profiles", "imported with the dataset, no LM call: " + ", ".join(
                    f"{kind} {n}" for kind, n in counts.items()))
            return
        with self.stage("profiles"):
            job = ProfileJobConfig(kinds=list(kinds), max_history=config.max_history, max_takers=config.max_takers,
                                   max_users=config.max_users, max_items=config.max_items, users=sorted(judged_users))
            stats = run_profiles(self.store, split_id, programs["profile_user"], programs.get("profile_item"),
                                 config, config, job, config.seed, lm_setup=self.lm_setup)
            note = ", ".join(f"{kind} {s.n_ok} new ok, {s.n_failed} failed" for kind, s in zip(job.kinds, stats))
            kept = {} if config.retry_failed else {kind: count_failed_rows(self.store, "profiles", {
                "split_id": split_id, "kind": kind, "lm": lm_identity(config),
                "prompt_hash": programs[f"profile_{kind}"].prompt_hash}) for kind in job.kinds}
            if any(kept.values()):
                note += ("; " + ", ".join(f"{n} failed {kind} profiles" for kind, n in kept.items() if n)
                         + " are kept (a plain re-run skips them; --retry-failed asks again): the later stages "
                         "encode those users and items from their raw text (recent titles, the item's text)")
            self.note("profiles", note)
            self.raise_if_stopped(stats, "profiles")

    def verdicts(self, candidate_set: str, programs) -> None:
        from judge.config import VerdictModeConfig
        from judge.jobs import VerdictJobConfig, run_verdicts

        with self.stage("verdicts"):
            profile_lm, user_prompt, _ = self.profile_identity(programs)
            stats = run_verdicts(self.store, candidate_set, programs["dual_judge"], user_prompt, self.config,
                                 self.config, VerdictJobConfig.model_validate(self.config.model_dump(
                                     include=set(VerdictModeConfig.model_fields))), self.config.seed, lm_setup=self.lm_setup,
                                 profile_lm=profile_lm)
            self.note("verdicts", f"{stats.n_ok} new ok, {stats.n_failed} failed, {stats.lm_calls} LM calls")
            self.raise_if_stopped([stats], "verdicts")

    @staticmethod
    def raise_if_stopped(all_stats, name: str) -> None:
        # A budget stop leaves the stage incomplete; training on a partial judge would be silent.
        if any(s.status == "budget_exhausted" for s in all_stats):
            raise BudgetExhausted(f"the {name} stage stopped on its LM budget (--max-calls/--max-cost); "
                                  "raise the budget or re-run to continue where it stopped.")

    def profile_identity(self, programs) -> tuple[str, str, str]:
        """(LM, user prompt hash, item prompt hash) of the profiles the later stages read."""
        from judge.lm import lm_identity

        if self.config.profiles == IMPORTED:
            return IMPORTED, IMPORTED, IMPORTED
        return (lm_identity(self.config), programs["profile_user"].prompt_hash,
                programs["profile_item"].prompt_hash if "profile_item" in programs else "")

    # -- semantic relevance ---------------------------------------------------------------------
    def embeddings(self, data: SplitData, programs) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.encoder == IMPORTED:
            with self.stage("embeddings"):
                users, items = (imported_vectors(self.store, data.split_id, kind) for kind in ("user", "item"))
                if users is None or items is None or users.shape[1] != items.shape[1]:
                    raise DataValidationError(
                        "--encoder imported needs the dataset's usr_emb_np.pkl and itm_emb_np.pkl, of one width; "
                        "this dataset has " + ("none" if users is None and items is None else "only one, or two "
                                               "widths") + ": use --encoder minilm.")
                self.note("embeddings", f"imported with the dataset: {len(users)} users, {len(items)} items, "
                                        f"d = {users.shape[1]}, no encoding")
                return torch.as_tensor(users), torch.as_tensor(items)
        with self.stage("embeddings"):
            users_text, items_text, counts = entity_texts(
                self.store, data.split_id, *self.profile_identity(programs), self.config.max_history)
            encoder = Encoder(self.config)
            progress = self.config.progress
            users = torch.as_tensor(cached_encode(self.store, encoder, users_text, progress, "encoding users"))
            items = torch.as_tensor(cached_encode(self.store, encoder, items_text, progress, "encoding items"))
            self.note("embeddings", f"{encoder.identity}: {len(users_text)} users ({counts['user_profiles']} with "
                                    f"an LLM profile), {len(items_text)} items ({counts['item_profiles']} with one)")
            # where the text comes from, for every report row that uses it: the rest are raw-text vectors
            self.report.metrics["text"] = {
                "user_llm_profile_share": counts["user_profiles"] / max(len(users_text), 1),
                "item_llm_profile_share": counts["item_profiles"] / max(len(items_text), 1)}
            return users, items

    def alignment(self, data: SplitData, user_vecs: torch.Tensor, item_vecs: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Aligned vectors g(s_u), g(s_i) and each user's FAISS semantic neighbours."""
        config: AlignmentConfig = self.config
        with self.stage("alignment"):
            raw_auc = ranking_auc(user_vecs, item_vecs, data.valid, config.seed)
            if config.align:
                pairs = pseudo_positive_pairs(data.train, user_vecs, item_vecs, config.pseudo_positive_share)
                projector, losses = train_projector(user_vecs, item_vecs, pairs, config, config.seed,
                                                    self.config.progress, self.config.device)
                with torch.no_grad():
                    user_sem, item_sem = projector(user_vecs), projector(item_vecs)
                aligned_auc = ranking_auc(user_sem, item_sem, data.valid, config.seed)
                self.report.metrics["alignment"] = {
                    "loss_first": losses[0], "loss_last": losses[-1], "pseudo_positives": pairs.size(1),
                    "valid_auc_raw": raw_auc, "valid_auc_aligned": aligned_auc}
                text = (f"{pairs.size(1)} pseudo-positive pairs, InfoNCE {losses[0]:.3f} → {losses[-1]:.3f}; "
                        f"valid AUC raw {raw_auc:.3f} → aligned {aligned_auc:.3f}")
            else:
                user_sem, item_sem = F.normalize(user_vecs, dim=-1), F.normalize(item_vecs, dim=-1)
                self.report.metrics["alignment"] = {"valid_auc_raw": raw_auc}
                text = f"off (--no-align): raw similarity, valid AUC {raw_auc:.3f}"
            k = min(self.config.semantic_neighbours, data.num_items)
            index = SemanticIndex(item_sem.numpy(), device=self.config.device)
            neighbours = (torch.as_tensor(index.search(user_sem.numpy(), k)[1], dtype=torch.long) if k
                          else torch.zeros(data.num_users, 0, dtype=torch.long))
            self.note("alignment", f"{text}; FAISS {index.kind}, {k} neighbours per user")
            return user_sem, item_sem, neighbours

    # -- candidates -----------------------------------------------------------------------------
    def candidates(self, data: SplitData, **overrides) -> str:
        """The candidate set of the config (``overrides``: CandidateConfig fields, e.g. LLMHD's pruning).

        --judge-users bounds the users whose pairs are candidates (--max-users bounds the profiles)."""
        config = self.config
        overrides = {"max_users": config.judge_users} | overrides
        with self.stage("pretrain + candidates"):
            # The default schedule, not the full model's: tuning --lr or --epochs must not re-buy verdicts.
            # The device is the run's (hashed only when not the CPU: a GPU pretraining draws other samples).
            candidate_set, created = pretrain_candidates(
                self.store, data, PretrainConfig.model_validate(
                    config.data_config().model_dump() | {"model": config.backbone, "device": config.device}),
                CandidateConfig.model_validate(
                    config.model_dump(include=set(CandidateConfig.model_fields)) | overrides),
                config.progress, config.store_flush_seconds)
            counts = candidate_counts_by_kind(self.store, candidate_set)
            users, injected = candidate_reach(self.store, candidate_set)
            chosen = CandidateConfig.model_validate(config.model_dump(include=set(CandidateConfig.model_fields))
                                                    | overrides)
            reach = (f"{chosen.candidate_share:.0%} of each user's positives" if chosen.candidate_share
                     else f"budget of {chosen.candidate_budget} pairs over all users" if chosen.candidate_budget
                     else f"{chosen.low_positives} low + {chosen.high_negatives} high per user")
            self.note("pretrain + candidates", ("new" if created else "reused") + f" candidate set ({reach}): "
                      f"{counts.get('low_score_positive', 0)} low-score positives, "
                      f"{counts.get('high_score_negative', 0)} high-score negatives, over {users} users")
            self.report.metrics["reach"] = {"candidate_users": users, "injected_candidates": injected}
            return candidate_set

    def judge_may_edit(self, data: SplitData, programs, lab_curve: str = "llmhni") -> bool:
        """Read the LLM judge's gate before any stage that only the judge would use. A closed gate skips
        the candidate pretraining, the judged users' profiles and the verdicts, and says so at once with
        what would open it; :meth:`graph_edit` then keeps G' = G. Judges that read the ground truth
        (oracle, simulated) always get their candidates: the confusion report is what they are for."""
        if self.config.judge != "llm":
            return True
        gate = self.judge_gate(data, programs, lab_curve)
        if gate.open:
            return True
        self.closed_gate = gate
        self.note("verdicts", f"not bought: judge gate closed ({gate.reason})")
        self.console.print(
            f"[yellow]judge gate closed[/]: {escape(gate.reason)}. Skipping what only the judge would use: the "
            "candidate pretraining, the judged users' profiles and the verdicts; the graph stays G' = G. "
            "--force-edit edits with the judge all the same.", soft_wrap=True)
        return False

    def judged_users(self, candidate_set: str) -> list[int]:
        return judged_candidate_users(self.store, candidate_set)

    def graph_edit(self, data: SplitData, candidate_set: str | None, programs, lab_curve: str = "llmhni"
                   ) -> torch.Tensor:
        """G' from the judge's decisions on ``candidate_set``, if the gate (read against the lab's
        ``lab_curve``, :mod:`pipeline.lab`) lets the judge edit; else G = G'."""
        from judge.lm import lm_identity
        from judge.programs import is_hard
        from judge.records import missing_verdict_pairs

        config = self.config
        with self.stage("graph edit"):
            if candidate_set is None and self.closed_gate is not None:
                self.report.metrics["denoise"] = self.closed_gate.metrics() | {
                    "edges_removed": 0, "edges_added": 0, "edges_in_g_prime": data.train.size(1)}
                self.note("graph edit", f"judge gate closed ({self.closed_gate.reason}): G' = G, no candidates "
                                        "were pretrained or judged")
                self.note("judge", f"judge gate closed: {self.closed_gate.reason}; the graph was not edited.")
                return data.train
            if candidate_set is None:
                self.note("graph edit", "off (--no-denoise): G' = G")
                return data.train
            missing = 0  # candidate pairs without both views' verdicts (the LLM judge only)
            if config.judge == "oracle":
                decisions = oracle_decisions(self.store, candidate_set)
            elif config.judge == "simulated":
                tpr, tnr = config.judge_rates()
                decisions = simulated_decisions(self.store, candidate_set, tpr, tnr, config.simulated_seed)
            elif config.judge == "random":
                decisions = random_edit_decisions(self.store, candidate_set, config.judge_remove_share,
                                                  config.simulated_seed)
            elif config.judge == "score":
                decisions = score_only_decisions(self.store, candidate_set, config.judge_remove_share)
            else:
                decisions = llm_decisions(self.store, candidate_set, lm_identity(config),
                                          programs["dual_judge"].prompt_hash,
                                          lambda u, i: is_hard(u, i, config.judge_rule))
                missing = missing_verdict_pairs(self.store, candidate_set, lm_identity(config),
                                                programs["dual_judge"].prompt_hash)
            if config.judge in GROUND_TRUTH_JUDGES:
                self.note("judge", f"analysis judge: --judge {config.judge} reads the injected-noise flags "
                                   "(ground truth); its result is a bound, not what a real judge achieves.")
            gate = self.judge_gate(data, programs, lab_curve)
            if missing and gate.open and not config.allow_partial:  # issue 15: never edit from a partial judge
                raise IncompleteJudge(
                    f"the judge is incomplete: {missing} candidate pairs lack an ok verdict from both views "
                    "(failed or skipped calls; see `python -m judge status`). Re-run with --retry-failed, "
                    "or pass --allow-partial to edit the graph from the pairs that have one.")
            if missing and gate.open:
                self.note("judge", f"--allow-partial: {missing} candidate pairs lack a verdict and stay as they are.")
            g_prime, counts = augmented_graph(data, decisions)
            self.record_confusion(data, candidate_set, decisions, counts)
            self.report.metrics["denoise"] |= gate.metrics() | {
                "judge_reads_ground_truth": float(config.judge in GROUND_TRUTH_JUDGES)}
            if not gate.open:
                g_prime = data.train
                self.report.metrics["denoise"] |= {"edges_removed": 0, "edges_added": 0,
                                                   "edges_in_g_prime": data.train.size(1)}
                self.note("graph edit", f"{gate.reason}: G' = G (the {config.judge} judge would have removed "
                                        f"{counts['edges_removed']} edges and added {counts['edges_added']}"
                                        + (f"; {missing} candidate pairs have no verdict, as a closed gate buys "
                                           "none" if missing else "") + "; --force-edit applies them)")
                self.note("judge", (self.report.notes.get("judge", "") + " " if "judge" in self.report.notes else "")
                          + f"judge gate closed: {gate.reason}; the graph was not edited.")
                return g_prime
            self.note("graph edit", f"{config.judge} judge ({gate.reason}): removed {counts['edges_removed']} "
                                    f"edges, added {counts['edges_added']}; G' has {counts['edges_in_g_prime']}")
            return g_prime

    def judge_gate(self, data: SplitData, programs, lab_curve: str = "llmhni") -> JudgeGate:
        """The judge's balanced accuracy against the break-even: measured on the dataset's labeled
        pairs (stored verdicts of this LM and prompt, :func:`judge.quality.stored_judge_accuracy`), or
        known for the analysis judges ((tpr + tnr) / 2; the oracle is 1). The break-even is the lab's for
        this dataset and noise setting where it has one (--gate-lab), else --gate-break-even."""
        config = self.config
        accuracy, source, interval, exact = None, "", None, False
        if config.judge in CONTROL_JUDGES:
            return JudgeGate(None, config.gate_break_even, source=f"--judge {config.judge}, removes "
                             f"{config.judge_remove_share:.0%} of the candidate positives", control=True)
        if config.judge in GROUND_TRUTH_JUDGES:
            tpr, tnr = config.judge_rates()
            accuracy, source, exact = (tpr + tnr) / 2, f"--judge {config.judge}, by construction", True
        else:
            from judge.lm import lm_identity
            from judge.quality import stored_judge_accuracy

            measured = stored_judge_accuracy(self.store, data.dataset_id, lm_identity(config),
                                             programs["dual_judge"].prompt_hash, config.judge_rule,
                                             noise=(config.noise_kind, config.noise_ratio))
            if measured is not None:
                accuracy, interval = measured["balanced_accuracy"], measured["balanced_accuracy_ci"]
                source = (f"{measured['n_pairs']} labeled {measured['kind']} pairs of {measured['label_set']}, "
                          f"{measured['abstentions']} abstentions apart")
        break_even, break_even_source = config.gate_break_even, "--gate-break-even"
        if config.gate_lab:
            measured_break_even = lab.lab_break_even(data.dataset_id, config.noise_kind, config.noise_ratio,
                                                     lab_curve)
            if measured_break_even is not None:
                break_even, break_even_source = measured_break_even
            else:
                break_even_source += ("; the lab has no break-even for this dataset and noise setting "
                                      f"({lab.LAB_FILE.name})")
        return JudgeGate(accuracy, break_even, config.force_edit, source, break_even_source, interval, exact)

    def record_confusion(self, data: SplitData, candidate_set: str, decisions: pd.DataFrame, counts: dict) -> None:
        """What the decisions did to injected and clean candidates, for the run's metrics and the summary."""
        confusion = hard_noise_confusion(self.store, data.split_id, candidate_set, decisions)
        self.report.confusion = confusion
        self.report.metrics["denoise"] = confusion_metrics(confusion) | counts

    # -- train --------------------------------------------------------------------------------
    def train(self, name: str, data: SplitData, train: Callable, hash_exclude: set[str] = NON_RESULT_FIELDS,
              ) -> tuple[str, TrainResult]:
        """Run ``train(on_epoch) -> TrainResult`` as the method's recorded run, with the stages' metrics
        and timings; the run's config is the method's own options."""
        config = self.config
        with self.stage("train"):
            run_id, result = record_training(
                self.store, data.split_id, name, config, train, hash_exclude=hash_exclude,
                flush_seconds=config.store_flush_seconds, extra_metrics=self.report.metrics,
                extra_timings=self.report.stage_timings())
            self.report.metrics.update(result.extra_metrics)
            share = result.timings.get("sampling_share_of_epoch")
            per_epoch = result.timings.get("seconds_per_epoch")
            self.note("train", "untrained: evaluated as is" if not result.epochs_run else
                      f"best valid epoch {result.best_epoch} of {result.epochs_run}"
                      + (f", {per_epoch:.2f} s/epoch" if per_epoch is not None else "")
                      + (f", sampling {share:.0%} of it" if share is not None else ""))
        return run_id, result

    def fit(self, name: str, data: SplitData, model: torch.nn.Module, objective, report_edges=None
            ) -> tuple[str, TrainResult]:
        """Fit ``objective`` and record it (every trained method); ``report_edges(result)`` may add
        denoising metrics once training ends."""
        config = self.config
        seed, optim = config.training_seed, config.optim_config()

        def train(on_epoch) -> TrainResult:
            result = fit(model, data, objective, optim, seed, on_epoch, config.progress, desc=name)
            if report_edges is not None:
                report_edges(result)
            return result

        return self.train(name, data, train)
