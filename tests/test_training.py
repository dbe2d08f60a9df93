"""gated.training: the sequence models, the loss a task implies, and the one training loop."""
from __future__ import annotations

import functools

import pytest
import torch

from gated.tasks import adding_baseline_mse, adding_problem, copy_task
from gated.training import (History, SequenceModel, describe, evaluate, first_step_below, fisher_exact,
                            running_mean, set_forget_bias, spread, task_loss, train, train_seeds)


@pytest.mark.parametrize("cell, module", [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM),
                                          ("gru", torch.nn.GRU)])
def test_sequence_model_wraps_the_pytorch_layer_and_reads_out_every_step(cell, module):
    model = SequenceModel(cell, 3, 8, 2)
    assert isinstance(model.rnn, module) and model.rnn.batch_first
    assert model(torch.randn(5, 7, 3)).shape == (5, 7, 2)


def test_sequence_model_with_the_same_seed_has_the_same_parameters():
    a, b = SequenceModel("gru", 2, 6, 1, seed=3), SequenceModel("gru", 2, 6, 1, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_sequence_model_leaves_the_global_random_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    SequenceModel("lstm", 2, 6, 1)
    assert torch.equal(torch.rand(3), expected)


def test_sequence_model_rejects_an_unknown_cell():
    with pytest.raises(ValueError, match="cell must be one of"):
        SequenceModel("transformer", 2, 4, 1)


def test_sequence_model_names_the_expected_input_shape():
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        SequenceModel("rnn", 2, 4, 1)(torch.randn(3, 5, 4))


def test_set_forget_bias_sets_the_effective_forget_bias_and_nothing_else():
    model = SequenceModel("lstm", 2, 4, 1)
    before = (model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0).detach().clone()
    set_forget_bias(model, 1.0)
    after = (model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0).detach()
    assert torch.allclose(after[4:8], torch.ones(4))
    assert torch.equal(after[:4], before[:4]) and torch.equal(after[8:], before[8:])


def test_set_forget_bias_refuses_a_gru():
    with pytest.raises(TypeError, match="nn.LSTM"):
        set_forget_bias(SequenceModel("gru", 2, 4, 1), 1.0)


def test_task_loss_uses_the_last_step_for_a_float_target():
    outputs = torch.zeros(2, 5, 1)
    outputs[:, -1] = 1.0
    assert task_loss(outputs, torch.ones(2, 1)).item() == 0.0


def test_task_loss_is_cross_entropy_over_all_steps_for_an_integer_target():
    x, y = copy_task(3, 4)
    logits = torch.randn(3, 24, 9)
    expected = torch.nn.functional.cross_entropy(logits.permute(0, 2, 1), y)
    assert task_loss(logits, y).item() == pytest.approx(expected.item())


def test_task_loss_names_the_expected_target_shape():
    with pytest.raises(ValueError, match=r"\(B, O\)"):
        task_loss(torch.zeros(2, 5, 1), torch.zeros(2, 5))


def test_training_is_reproducible():
    task = functools.partial(adding_problem, length=6)
    runs = [train(SequenceModel("gru", 2, 8, 1), task, 5, batch_size=8).loss for _ in range(2)]
    assert runs[0] == runs[1]


def test_training_learns_a_short_adding_problem_well_below_the_baseline():
    task = functools.partial(adding_problem, length=6)
    model = SequenceModel("lstm", 2, 16, 1)
    history = train(model, task, 300, batch_size=32, lr=0.01)
    assert len(history.loss) == 300
    assert evaluate(model, task) < adding_baseline_mse() / 5


def test_training_clips_the_gradient_it_applies():
    task = functools.partial(adding_problem, length=6)
    model = SequenceModel("rnn", 2, 8, 1)
    history = train(model, task, 3, batch_size=8, lr=0.0, clip=1e-3)
    assert all(norm > 1e-3 for norm in history.grad_norm)  # recorded before clipping
    assert all(p.grad.norm() < 1e-3 * 1.01 for p in model.parameters())


def test_training_restores_the_number_of_threads():
    before = torch.get_num_threads()
    train(SequenceModel("rnn", 2, 4, 1), functools.partial(adding_problem, length=4), 1, batch_size=2)
    assert torch.get_num_threads() == before


def test_running_mean_averages_each_window():
    assert running_mean([1.0, 2.0, 3.0, 4.0], width=2).tolist() == [1.5, 2.5, 3.5]
    with pytest.raises(ValueError, match="at least width"):
        running_mean([1.0], width=2)


def test_first_step_below_counts_the_last_step_of_the_first_window_below_the_level():
    history = History(loss=[1.0] * 10 + [0.0] * 10)
    assert first_step_below(history, 0.5, width=4) == 13  # the window of steps 10..13 has mean 0.25
    assert first_step_below(history, -1.0, width=4) is None


def test_train_seeds_gives_one_reproducible_run_per_seed():
    task = functools.partial(adding_problem, length=5)
    runs = train_seeds(lambda seed: SequenceModel("gru", 2, 4, 1, seed=seed), task, (0, 1), 4, batch_size=8)
    again = train_seeds(lambda seed: SequenceModel("gru", 2, 4, 1, seed=seed), task, (1,), 4, batch_size=8)
    assert [run.seed for run in runs] == [0, 1]
    assert runs[1].history.loss == again[0].history.loss and runs[1].test_loss == again[0].test_loss
    assert runs[0].history.loss != runs[1].history.loss


def test_spread_and_describe_report_median_range_and_missing_runs():
    assert spread([3, 1, 2]) == {"median": 2, "low": 1, "high": 3, "count": 3, "of": 3}
    assert describe([0.1, 0.3, 0.2]) == "median 0.200 (range 0.100–0.300)"
    assert describe([10, None, 30], ".0f") == "2 of 3 runs; median 20 (range 10–30)"
    assert describe([None, None]) == "none of 2 runs"


@pytest.mark.parametrize("counts, expected", [((3, 4, 1, 4), 0.4857142857), ((8, 8, 0, 8), 2 / 12870),
                                              ((3, 8, 5, 8), 0.6192696193), ((2, 5, 2, 5), 1.0)])
def test_fisher_exact_matches_known_two_sided_p_values(counts, expected):
    assert fisher_exact(*counts) == pytest.approx(expected, rel=1e-9)


def test_fisher_exact_rejects_more_successes_than_runs():
    with pytest.raises(ValueError, match="successes <= runs"):
        fisher_exact(5, 4, 0, 4)
