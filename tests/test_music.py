"""gated.music: piano rolls from music21 scores, the cache, the split, and the frame-level NLL."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from music21 import chord, note, stream

from gated import music


def _score(*events):
    """A one-part score from (offset, quarter_length, pitches) events."""
    part = stream.Part()
    for offset, length, pitches in events:
        element = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
        element.quarterLength = length
        part.insert(offset, element)
    score = stream.Score()
    score.insert(0, part)
    return score


def test_roll_samples_each_note_at_the_frame_starts_it_covers():
    score = _score((0, 2, ["C4"]), (2, 1, ["E4"]), (3, 0.5, ["G4"]))
    roll = music.score_to_roll(score, step=1.0)
    c4, e4, g4 = 60 - music.LOWEST_KEY, 64 - music.LOWEST_KEY, 67 - music.LOWEST_KEY
    assert roll.shape == (4, music.NUM_KEYS)
    assert roll[:, c4].tolist() == [True, True, False, False]
    assert roll[:, e4].tolist() == [False, False, True, False]
    assert roll[:, g4].tolist() == [False, False, False, True]
    assert roll.sum() == 4


def test_roll_at_eighth_notes_keeps_a_note_that_starts_off_the_beat():
    score = _score((0, 1, ["C4"]), (1.5, 0.5, ["D4"]))
    quarter = music.score_to_roll(score, step=1.0)
    eighth = music.score_to_roll(score, step=0.5)
    d4 = 62 - music.LOWEST_KEY
    assert not quarter[:, d4].any()
    assert eighth[:, d4].tolist() == [False, False, False, True]


def test_roll_sets_every_pitch_of_a_chord():
    roll = music.score_to_roll(_score((0, 1, ["C3", "E3", "G3"])))
    assert sorted(np.flatnonzero(roll[0]) + music.LOWEST_KEY) == [48, 52, 55]


def test_roll_rejects_a_pitch_outside_the_piano():
    with pytest.raises(ValueError, match="outside the 88 piano keys"):
        music.score_to_roll(_score((0, 1, ["C9"])))


def test_split_is_disjoint_complete_and_independent_of_input_order():
    names = [f"bwv{i}" for i in range(50)]
    split = music.split_names(names)
    shuffled = music.split_names(list(reversed(names)))
    assert split == shuffled
    together = split["train"] + split["valid"] + split["test"]
    assert sorted(together) == sorted(names)
    assert [len(split[k]) for k in ("train", "valid", "test")] == [30, 10, 10]


def test_split_changes_with_the_seed():
    names = [f"bwv{i}" for i in range(50)]
    assert music.split_names(names, seed=0)["test"] != music.split_names(names, seed=1)["test"]


def test_second_load_reads_the_cache_and_gives_the_same_rolls(tmp_path):
    first = music.load_chorales(cache_dir=tmp_path, max_files=8)
    second = music.load_chorales(cache_dir=tmp_path, max_files=8)
    assert first.source.startswith("parsed")
    assert second.source.startswith("cache")
    assert list(tmp_path.glob("*.npz"))
    for split in ("train", "valid", "test"):
        assert first.names[split] == second.names[split]
        assert music.fingerprint(first.rolls[split]) == music.fingerprint(second.rolls[split])


def test_parsed_chorales_are_four_voice_rolls_with_about_four_keys_on(tmp_path):
    chorales = music.load_chorales(cache_dir=tmp_path, max_files=8)
    rolls = [r for split in chorales.rolls.values() for r in split]
    assert rolls and all(r.shape[1] == music.NUM_KEYS for r in rolls)
    keys_on = np.concatenate(rolls).sum(1)
    assert keys_on.max() <= 4
    assert 3 < keys_on.mean() <= 4


def test_pad_batch_shifts_inputs_by_one_frame_and_masks_the_padding():
    a = np.eye(music.NUM_KEYS, dtype=np.float32)[:3]
    b = np.eye(music.NUM_KEYS, dtype=np.float32)[10:15]
    inputs, targets, mask = music.pad_batch([a, b])
    assert inputs.shape == targets.shape == (2, 5, music.NUM_KEYS)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert torch.equal(inputs[:, 0], torch.zeros(2, music.NUM_KEYS))
    assert torch.equal(inputs[1, 1:], targets[1, :-1])
    assert torch.equal(targets[0, :3], torch.as_tensor(a))


def test_frame_nll_sums_binary_cross_entropy_over_keys_and_averages_over_real_frames():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, music.NUM_KEYS, dtype=torch.float64)
    targets = (torch.rand(2, 4, music.NUM_KEYS) < 0.05).double()
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float64)
    p = torch.sigmoid(logits)
    log_lik = targets * torch.log(p) + (1 - targets) * torch.log(1 - p)
    expected = -(log_lik.sum(-1) * mask).sum() / 6
    assert torch.allclose(music.frame_nll(logits, targets, mask), expected, rtol=1e-12)


def test_frame_nll_ignores_whatever_the_model_says_on_padded_frames():
    logits = torch.zeros(1, 3, music.NUM_KEYS)
    targets = torch.zeros(1, 3, music.NUM_KEYS)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    changed = logits.clone()
    changed[0, 2] = 50.0
    assert music.frame_nll(logits, targets, mask) == music.frame_nll(changed, targets, mask)


def test_marginal_nll_of_a_key_on_half_the_time_is_log_two():
    train = [np.zeros((4, music.NUM_KEYS), dtype=np.float32)]
    train[0][:2, 0] = 1
    value = music.marginal_nll(train, train)
    # key 0: log 2 per frame; the 87 silent keys cost -log(1 - 1e-4) each (the clip)
    assert value == pytest.approx(np.log(2) - 87 * np.log(1 - 1e-4), rel=1e-5)
