"""The lab file the judge gate reads: merged per curve, read per dataset and noise setting."""

from __future__ import annotations

from pipeline.lab import lab_break_even, read_lab, write_lab


def test_a_grid_that_completes_one_curve_keeps_the_other(tmp_path):
    lab = tmp_path / "lab.json"
    key = {"dataset_id": "bx", "noise_kind": "random", "noise_ratio": 0.4}
    write_lab([key | {"bpr_on_g_prime": 0.61, "bpr_on_g_prime_at_grid_floor": False}], lab)
    write_lab([key | {"llmhni": None}, {**key, "noise_ratio": 0.2, "llmhni": 0.5, "llmhni_at_grid_floor": True}], lab)
    assert len(read_lab(lab)) == 2
    assert lab_break_even("bx", "random", 0.4, "bpr_on_g_prime", lab)[0] == 0.61
    value, why = lab_break_even("bx", "random", 0.4, "llmhni", lab)
    assert value == 1.0 and "never paid" in why  # a curve that never paid: only a perfect judge edits
    value, why = lab_break_even("bx", "random", 0.2, "llmhni", lab)
    assert value == 0.5 and "lowest p" in why
    assert "pre-protocol entry: not against random edits" in why and "one split" in why
    assert lab_break_even("bx", "realistic", 0.2, "llmhni", lab) is None


def test_a_protocol_entry_against_random_edits_carries_no_caveat(tmp_path):
    lab = tmp_path / "lab.json"
    write_lab([{"dataset_id": "bx", "noise_kind": "random", "noise_ratio": 0.4, "split_seeds": [2026, 7, 11],
                "llmhni": 0.5, "llmhni_vs_random": 0.64}], lab)
    value, why = lab_break_even("bx", "random", 0.4, "llmhni", lab)
    assert value == 0.64 and "pre-protocol" not in why
    write_lab([{"dataset_id": "bx", "noise_kind": "random", "noise_ratio": 0.4, "split_seeds": [2026]}], lab)
    assert "one split" in lab_break_even("bx", "random", 0.4, "llmhni", lab)[1]


def test_an_unreadable_lab_has_no_entries(tmp_path):
    lab = tmp_path / "lab.json"
    lab.write_text("{not json")
    assert read_lab(lab) == [] and lab_break_even("bx", "random", 0.4, "llmhni", lab) is None
