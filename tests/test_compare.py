"""gated.compare: matched model sizes, the chorale frame predictor and its training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gated import cells, compare, music


def test_matched_sizes_of_chung_et_al_give_about_nineteen_thousand_recurrent_parameters():
    counts = compare.matched_parameter_counts()
    for cell, row in counts.items():
        assert row["recurrent"] == cells.parameter_count(cell, music.NUM_KEYS, compare.MATCHED_UNITS[cell])
        assert 18_000 <= row["recurrent"] <= 19_000
    assert counts["rnn"]["recurrent"] == 100 * (88 + 100 + 2)
    assert counts["gru"]["recurrent"] == 3 * 46 * (88 + 46 + 2)
    assert counts["lstm"]["recurrent"] == 4 * 36 * (88 + 36 + 2)


def test_matched_counts_with_output_add_the_readout_layer():
    row = compare.matched_parameter_counts()["gru"]
    model = compare.FramePredictor("gru", 46)
    assert row["with output"] == sum(p.numel() for p in model.parameters())


def test_unknown_cell_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="cell must be one of"):
        compare.recurrent_module("transformer", 4, 4)


def test_frame_predictor_maps_frames_to_logits_of_the_same_shape():
    model = compare.FramePredictor("lstm", 8)
    assert model(torch.zeros(3, 7, music.NUM_KEYS)).shape == (3, 7, music.NUM_KEYS)


def _toy_chorales(pieces: int = 12, length: int = 16) -> music.Chorales:
    """A predictable 'chorale': a scale of one key at a time, moving up by one key each frame."""
    rolls = []
    for start in range(pieces):
        roll = np.zeros((length, music.NUM_KEYS), dtype=np.float32)
        roll[np.arange(length), (start + np.arange(length)) % 24 + 30] = 1
        rolls.append(roll)
    names = {"train": [str(i) for i in range(8)], "valid": ["8", "9"], "test": ["10", "11"]}
    return music.Chorales(names=names,
                          rolls={"train": rolls[:8], "valid": rolls[8:10], "test": rolls[10:]},
                          step=1.0, source="toy")


def test_training_on_a_predictable_sequence_beats_the_memoryless_baseline():
    toy = _toy_chorales()
    run = compare.train_frame_predictor("gru", toy, hidden_size=16, epochs=6, batch_size=2, lr=5e-2)
    baseline = music.marginal_nll(toy.rolls["train"], toy.rolls["test"])
    assert run.test_nll < 0.6 * baseline


def test_training_is_repeatable_for_a_seed():
    toy = _toy_chorales()
    first = compare.train_frame_predictor("rnn", toy, hidden_size=8, epochs=2, seed=3)
    second = compare.train_frame_predictor("rnn", toy, hidden_size=8, epochs=2, seed=3)
    assert first.valid_nll == second.valid_nll
    assert first.test_nll == second.test_nll


def test_training_leaves_denormal_flushing_off():
    compare.train_frame_predictor("lstm", _toy_chorales(), hidden_size=4, epochs=1)
    tiny = torch.tensor([1e-40])
    assert tiny.item() != 0.0


def test_summary_reports_mean_and_sample_spread_per_cell():
    runs = [compare.MusicRun("gru", 46, seed, 100, test_nll=v, seconds_per_epoch=1.0)
            for seed, v in enumerate([8.0, 9.0, 10.0])]
    row = compare.summarize_runs(runs)["gru"]
    assert row["test mean"] == pytest.approx(9.0)
    assert row["test std"] == pytest.approx(1.0)
    assert row["seeds"] == 3


def test_matched_hidden_size_picks_the_closest_parameter_count():
    budget = cells.parameter_count("gru", music.NUM_KEYS, 46)  # 18,768
    assert compare.matched_hidden_size("gru", music.NUM_KEYS, budget) == 46
    # 4·37·127 = 18,796 is closer than Chung et al.'s 36 units (18,144); 99·189 = 18,711 than 100
    assert compare.matched_hidden_size("lstm", music.NUM_KEYS, budget) == 37
    assert compare.matched_hidden_size("rnn", music.NUM_KEYS, budget) == 99
