"""gated.tasks: the adding problem, the copy task and the scores of models that ignore the input."""
from __future__ import annotations

import math

import pytest
import torch

from gated.tasks import (COPY_DELIMITER, adding_accuracy, adding_baseline_mse, adding_problem, adding_regions,
                         copy_baseline_cross_entropy, copy_task, unit_means_by_region)
from gated.training import task_loss


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_adding_problem_marks_one_step_in_each_half():
    x, _ = adding_problem(500, 30, gen())
    markers = x[..., 1]
    assert torch.all(markers.sum(dim=1) == 2)
    assert torch.all(markers[:, :15].sum(dim=1) == 1)
    assert torch.all(markers[:, 15:].sum(dim=1) == 1)


def test_adding_problem_target_is_the_sum_of_the_marked_values():
    x, y = adding_problem(64, 20, gen(1))
    assert x.shape == (64, 20, 2) and y.shape == (64, 1)
    assert torch.allclose((x[..., 0] * x[..., 1]).sum(dim=1, keepdim=True), y)


def test_adding_problem_values_lie_in_the_unit_interval():
    x, _ = adding_problem(100, 50, gen(2))
    assert x[..., 0].min() >= 0 and x[..., 0].max() <= 1


def test_adding_problem_is_reproducible_from_the_generator():
    a = adding_problem(8, 10, gen(3))
    b = adding_problem(8, 10, gen(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_predicting_the_mean_scores_the_baseline_mse_of_one_sixth():
    _, y = adding_problem(200_000, 10, gen(4))
    assert adding_baseline_mse() == pytest.approx(1 / 6)
    assert ((y - 1.0) ** 2).mean().item() == pytest.approx(1 / 6, abs=2e-3)


def test_adding_problem_rejects_a_sequence_too_short_for_two_markers():
    with pytest.raises(ValueError, match="length >= 2"):
        adding_problem(4, 1)


def test_copy_task_layout_symbols_blanks_delimiter_and_target():
    delay = 7
    x, y = copy_task(16, delay, gen(5))
    total = delay + 20
    assert x.shape == (16, total, 10) and y.shape == (16, total) and y.dtype == torch.long
    inputs = x.argmax(-1)
    assert torch.all((inputs[:, :10] >= 1) & (inputs[:, :10] <= 8))
    assert torch.all(inputs[:, delay + 9] == COPY_DELIMITER)
    others = torch.cat([inputs[:, 10:delay + 9], inputs[:, delay + 10:]], dim=1)
    assert torch.all(others == 0)
    assert torch.all(y[:, : delay + 10] == 0)
    assert torch.equal(y[:, -10:], inputs[:, :10])


@pytest.mark.parametrize("delay, expected", [(100, 0.173), (200, 0.0945)])
def test_copy_baseline_matches_the_published_values(delay, expected):
    assert copy_baseline_cross_entropy(delay) == pytest.approx(expected, abs=5e-4)


def test_memoryless_strategy_scores_the_copy_baseline():
    delay = 30
    x, y = copy_task(64, delay, gen(6))
    logits = torch.zeros(64, delay + 20, 9)
    logits[:, : delay + 10, 0] = 100.0  # blank with certainty, then a uniform guess over 1..8
    logits[:, delay + 10:, 0] = -100.0
    assert task_loss(logits, y).item() == pytest.approx(copy_baseline_cross_entropy(delay), rel=1e-6)
    assert copy_baseline_cross_entropy(delay) == pytest.approx(10 * math.log(8) / 50)


def test_adding_accuracy_counts_predictions_within_the_tolerance():
    target = torch.tensor([[1.0], [1.0], [1.0], [1.0]])
    prediction = torch.tensor([[1.1], [0.9], [1.2], [0.5]])
    assert adding_accuracy(prediction, target) == 0.5


def test_adding_regions_cut_each_sequence_at_its_markers():
    x, _ = adding_problem(50, 20, gen(7))
    regions = adding_regions(x)
    marks = x[..., 1] > 0
    assert torch.equal(regions["at a marked step"], marks)
    for b in range(50):
        first, second = torch.nonzero(marks[b]).flatten().tolist()
        assert regions["before the first marker"][b].nonzero().flatten().tolist() == list(range(first))
        assert regions["between the markers"][b].nonzero().flatten().tolist() == list(range(first + 1, second))


def test_adding_regions_refuse_inputs_without_two_markers():
    x, _ = adding_problem(2, 10, gen(8))
    x[0, :, 1] = 0
    with pytest.raises(ValueError, match="exactly two marked steps"):
        adding_regions(x)


def test_unit_means_by_region_average_each_unit_over_the_region():
    gates = {"z": torch.arange(12, dtype=torch.float64).reshape(1, 4, 3)}  # (B, T, H)
    regions = {"first two steps": torch.tensor([[True, True, False, False]])}
    means = unit_means_by_region(gates, regions)
    assert means["first two steps"]["z"].tolist() == [1.5, 2.5, 3.5]
