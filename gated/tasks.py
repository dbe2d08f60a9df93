"""Synthetic long-range tasks and the score of a model that ignores what it would have to remember.

Both tasks are generated on the fly from a ``torch.Generator`` (nothing is downloaded):

* :func:`adding_problem`: the variant of Le et al. (2015) of the task of Hochreiter & Schmidhuber
  (1997). Each step holds a value drawn uniformly from [0, 1] and a marker; exactly two steps are
  marked, one in each half of the sequence, and the target is the sum of the two marked values.
  Always predicting the mean, 1, scores MSE = Var(X1 + X2) = 2/12 = 1/6 (:func:`adding_baseline_mse`).
* :func:`copy_task`: the copy task of Arjovsky, Shah & Bengio (2016). Ten symbols drawn from 8, then
  T − 1 blanks, a delimiter and ten more blanks; the target is blank for T + 10 steps and then the ten
  symbols. A model without memory outputs blanks and then guesses uniformly, a cross-entropy of
  10 · log 8 / (T + 20) per step (:func:`copy_baseline_cross_entropy`).

:func:`adding_regions` cuts the steps of adding-problem sequences into the stretches where a trained
network's gates behave differently (before the first marker, at a marker, between the markers).

Layout is batch first, as :class:`gated.training.SequenceModel` expects: B batch, T time.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

ADDING_LEARNED_MSE = 0.05  # a third of the memoryless 1/6: the chapters count a run below it as learned
COPY_SYMBOLS = 8  # symbols 1..8 are data; 0 is the blank
COPY_LENGTH = 10  # how many symbols are copied
COPY_BLANK = 0
COPY_DELIMITER = COPY_SYMBOLS + 1  # input category 9
COPY_INPUT_SIZE = COPY_SYMBOLS + 2  # blank, 8 symbols, delimiter (one-hot)
COPY_OUTPUT_SIZE = COPY_SYMBOLS + 1  # blank and 8 symbols


def adding_problem(batch: int, length: int, generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """A batch of the adding problem: x (B, T, 2) holding [value, marker], y (B, 1) the marked sum.

    Values are uniform on [0, 1]; one marker sits uniformly in the first half (steps 0 .. T//2 − 1),
    the other in the second half (steps T//2 .. T − 1), so the first marked value lies at least
    T/2 steps before the end of the sequence.
    """
    if length < 2:
        raise ValueError(f"the adding problem needs length >= 2 (two marked steps), got {length}")
    half = length // 2
    values = torch.rand(batch, length, generator=generator, dtype=dtype)
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, length, (batch,), generator=generator)
    markers = torch.zeros(batch, length, dtype=dtype)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)
    y = (values[rows, first] + values[rows, second]).unsqueeze(-1)
    return x, y


def adding_baseline_mse() -> float:
    """MSE of always predicting E[X1 + X2] = 1: the variance of a sum of two U(0, 1), 1/6."""
    return 2.0 / 12.0


def copy_task(batch: int, delay: int, generator: torch.Generator | None = None,
              dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """A batch of the copy task with T = ``delay``: x (B, T+20, 10) one-hot, y (B, T+20) int64.

    Input categories: 0 blank, 1..8 symbols, 9 delimiter. Steps 0..9 hold the symbols, steps
    10..T+8 blanks, step T+9 the delimiter, the last ten steps blanks. Target categories: 0 blank,
    1..8 symbols; blank for the first T+10 steps, then the ten symbols in order.
    """
    if delay < 1:
        raise ValueError(f"the copy task needs a delay T >= 1, got {delay}")
    total = delay + 2 * COPY_LENGTH
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (batch, COPY_LENGTH), generator=generator)
    inputs = torch.full((batch, total), COPY_BLANK, dtype=torch.long)
    inputs[:, :COPY_LENGTH] = symbols
    inputs[:, delay + COPY_LENGTH - 1] = COPY_DELIMITER
    targets = torch.full((batch, total), COPY_BLANK, dtype=torch.long)
    targets[:, -COPY_LENGTH:] = symbols
    x = torch.nn.functional.one_hot(inputs, COPY_INPUT_SIZE).to(dtype)
    return x, targets


def copy_baseline_cross_entropy(delay: int) -> float:
    """Cross-entropy per step (nats) of the best memoryless strategy on :func:`copy_task`.

    It outputs the blank with certainty for the first T + 10 steps (no loss) and a uniform guess over
    the 8 symbols for the last 10: 10 · log 8 / (T + 20).
    """
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (delay + 2 * COPY_LENGTH)


def adding_accuracy(prediction: Tensor, target: Tensor, tolerance: float = 0.16) -> float:
    """Fraction of predictions within ``tolerance`` of the marked sum. prediction, target: (B, 1).

    Hochreiter & Schmidhuber (1997) count an answer correct when its error is below 0.04 on their
    target 0.5 + (X1 + X2)/4; on the sum itself that tolerance is 4 · 0.04 = 0.16, the default.
    """
    if prediction.shape != target.shape:
        raise ValueError(f"prediction of shape {tuple(prediction.shape)} does not match "
                         f"target of shape {tuple(target.shape)}")
    return (prediction - target).abs().le(tolerance).float().mean().item()


def adding_regions(x: Tensor) -> dict[str, Tensor]:
    """Boolean masks (B, T) of three stretches of adding-problem inputs x: (B, T, 2).

    ``"before the first marker"``, ``"at a marked step"`` and ``"between the markers"`` (strictly
    between the two marked steps); the steps after the second marker belong to none of them.
    """
    if x.dim() != 3 or x.shape[-1] != 2:
        raise ValueError(f"expected adding-problem inputs of shape (B, T, 2), got {tuple(x.shape)}")
    marks = x[..., 1] > 0
    if not torch.all(marks.sum(dim=1) == 2):
        raise ValueError("every adding-problem sequence must have exactly two marked steps")
    steps = torch.arange(x.shape[1])
    first = marks.float().argmax(dim=1, keepdim=True)
    second = x.shape[1] - 1 - marks.flip(1).float().argmax(dim=1, keepdim=True)
    return {"before the first marker": steps < first, "at a marked step": marks,
            "between the markers": (steps > first) & (steps < second)}


def unit_means_by_region(gates: dict[str, Tensor], regions: dict[str, Tensor]) -> dict[str, dict[str, Tensor]]:
    """For each region and gate: each unit's mean over the region's steps, (H,). gates: {name: (B, T, H)}.

    Returns ``{region: {gate: per-unit means}}``; take ``.median()`` for the typical unit.
    """
    return {region: {name: values[mask].mean(dim=0) for name, values in gates.items()}
            for region, mask in regions.items()}
