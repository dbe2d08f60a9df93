"""The course's one training loop, and the small sequence models it trains.

:class:`SequenceModel` wraps ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` (one layer, batch first) with a
linear readout at every step. :func:`train` draws a fresh batch from a task at every step (so the
training loss is also an estimate of the loss on unseen sequences), takes an Adam step, and returns
a :class:`History` of the loss and the gradient norm. :func:`train_seeds` repeats a run over several
seeds, because one run of a small model says little: :func:`spread` and :func:`describe` report the
median and the range of what the runs measured, :func:`steps_to_reach` when each run got good enough.

The loss follows from the target a task returns:

* a float target ``y`` of shape (B, O): mean squared error of the readout at the **last** step
  (the adding problem);
* an integer target ``y`` of shape (B, T): cross-entropy of the readout at **every** step
  (the copy task).

Everything is seeded: the same call gives the same numbers.
"""
from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

CELLS = ("rnn", "lstm", "gru")

TaskFn = Callable[..., tuple[Tensor, Tensor]]


class SequenceModel(nn.Module):
    """One recurrent layer and a linear readout. x: (B, T, I) -> outputs (B, T, O).

    ``cell`` is ``"rnn"`` (Elman, ``nonlinearity`` "tanh" or "relu"), ``"lstm"`` or ``"gru"``; the
    recurrent layer is ``self.rnn`` (PyTorch's module, so its ``weight_hh_l0`` etc. are the usual ones)
    and the readout ``self.readout``. Parameters are drawn with ``torch.manual_seed(seed)`` without
    touching the global random state.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int,
                 nonlinearity: str = "tanh", seed: int = 0) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.cell = cell
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if cell == "rnn":
                self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, batch_first=True)
            elif cell == "lstm":
                self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
            else:
                self.rnn = nn.GRU(input_size, hidden_size, batch_first=True)
            self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, T, I) -> readout at every step (B, T, O)."""
        if x.dim() != 3 or x.shape[-1] != self.rnn.input_size:
            raise ValueError(f"expected x of shape (B, T, {self.rnn.input_size}), got {tuple(x.shape)}")
        states, _ = self.rnn(x)
        return self.readout(states)


def set_forget_bias(lstm: nn.LSTM | SequenceModel, value: float) -> None:
    """Make the LSTM's effective forget-gate bias ``value``: bias_ih[H:2H] = value, bias_hh[H:2H] = 0.

    PyTorch adds the two biases, so setting both to ``value`` would give 2 · ``value``.
    """
    module = lstm.rnn if isinstance(lstm, SequenceModel) else lstm
    if not isinstance(module, nn.LSTM):
        raise TypeError(f"expected an nn.LSTM (or a SequenceModel of cell 'lstm'), got {type(module).__name__}")
    size = module.hidden_size
    with torch.no_grad():
        for layer in range(module.num_layers):
            getattr(module, f"bias_ih_l{layer}")[size:2 * size] = value
            getattr(module, f"bias_hh_l{layer}")[size:2 * size] = 0.0


def task_loss(outputs: Tensor, y: Tensor) -> Tensor:
    """Loss of outputs (B, T, O) against a task's target (see the module docstring)."""
    if y.dtype.is_floating_point:
        if y.dim() != 2 or y.shape[0] != outputs.shape[0] or y.shape[1] != outputs.shape[-1]:
            raise ValueError(f"a float target must be (B, O) = ({outputs.shape[0]}, {outputs.shape[-1]}), "
                             f"got {tuple(y.shape)}")
        return nn.functional.mse_loss(outputs[:, -1], y)
    if y.shape != outputs.shape[:2]:
        raise ValueError(f"an integer target must be (B, T) = {tuple(outputs.shape[:2])}, got {tuple(y.shape)}")
    return nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), y.reshape(-1))


@dataclass
class History:
    """What :func:`train` records: one entry per step."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)  # global norm before clipping
    seconds: float = 0.0

    def final(self, last: int = 20) -> float:
        """Mean loss over the last ``last`` steps (one batch is noisy)."""
        tail = self.loss[-last:]
        return sum(tail) / len(tail)


@contextmanager
def torch_threads(count: int | None):
    """Run the block with ``torch.set_num_threads(count)`` (``None``: leave it), then restore it."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(model: nn.Module, task_fn: TaskFn, steps: int, batch_size: int = 64, lr: float = 1e-3,
          clip: float | None = 1.0, seed: int = 0, threads: int | None = 1) -> History:
    """Train ``model`` with Adam on fresh batches ``task_fn(batch_size, generator=g)``; return the history.

    ``task_fn`` is, e.g., ``functools.partial(adding_problem, length=50)``. Gradients are clipped to
    global norm ``clip`` (``None``: no clipping). The batches come from a generator seeded with ``seed``.
    ``threads``: small models train fastest on one thread (several threads on a busy machine
    spend their time waiting for each other: ten times slower on 2 shared cores); ``None`` keeps
    PyTorch's setting.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    with torch_threads(threads):
        _run(model, task_fn, steps, batch_size, clip, generator, optimizer, history)
    return history


def _run(model, task_fn, steps, batch_size, clip, generator, optimizer, history) -> None:
    start = time.perf_counter()
    model.train()
    for _ in range(steps):
        x, y = task_fn(batch_size, generator=generator)
        loss = task_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip is not None else float("inf"))
        optimizer.step()
        history.loss.append(loss.item())
        history.grad_norm.append(norm.item())
    history.seconds = time.perf_counter() - start


@torch.no_grad()
def evaluate(model: nn.Module, task_fn: TaskFn, batch_size: int = 1000, seed: int = 12345) -> float:
    """Loss of ``model`` on one fixed batch of ``batch_size`` fresh sequences (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    x, y = task_fn(batch_size, generator=generator)
    with torch_threads(1):
        return task_loss(model(x), y).item()


# ----------------------------------------------------------------------- several seeds, not one


def running_mean(values: Sequence[float], width: int = 25) -> np.ndarray:
    """Mean over each window of ``width`` consecutive steps (one batch's loss is noisy); length n − width + 1."""
    if len(values) < width:
        raise ValueError(f"need at least width = {width} values, got {len(values)}")
    return np.convolve(np.asarray(values, dtype=float), np.ones(width) / width, mode="valid")


def first_step_below(history: History, level: float, width: int = 25) -> int | None:
    """The first training step at which the running mean of the loss is below ``level`` (None: never).

    The step counts from 1 and is the last step of the first window whose mean is below ``level``.
    """
    below = np.nonzero(running_mean(history.loss, width) < level)[0]
    return int(below[0]) + width if len(below) else None


@dataclass
class SeedRun:
    """One of the runs of :func:`train_seeds`: the trained model, its history and its test loss."""

    seed: int
    model: nn.Module
    history: History
    test_loss: float


def train_seeds(make_model: Callable[[int], nn.Module], task_fn: TaskFn, seeds: Iterable[int], steps: int,
                **train_kwargs) -> list[SeedRun]:
    """Train ``make_model(seed)`` with :func:`train` (batches seeded with the same seed) for each seed.

    ``train_kwargs`` go to :func:`train`; each model is scored by :func:`evaluate` on the same test batch.
    """
    runs = []
    for seed in seeds:
        model = make_model(seed)
        history = train(model, task_fn, steps, seed=seed, **train_kwargs)
        runs.append(SeedRun(seed, model, history, evaluate(model, task_fn)))
    return runs


def steps_to_reach(runs: Iterable[SeedRun], level: float, width: int = 25) -> list[int | None]:
    """:func:`first_step_below` of each run (None for a run that never got below ``level``)."""
    return [first_step_below(run.history, level, width) for run in runs]


def spread(values: Iterable[float | None]) -> dict[str, float | int]:
    """Median, lowest and highest of the values that are not None, and how many there were of how many.

    Returns ``{"median", "low", "high", "count", "of"}``; the first three are NaN when no value is left.
    """
    values = list(values)
    kept = [v for v in values if v is not None]
    if not kept:
        return {"median": float("nan"), "low": float("nan"), "high": float("nan"), "count": 0, "of": len(values)}
    return {"median": statistics.median(kept), "low": min(kept), "high": max(kept), "count": len(kept),
            "of": len(values)}


def describe(values: Iterable[float | None], fmt: str = ".3f") -> str:
    """"median m (range a–b)" of :func:`spread`, with "k of n runs" when some values are None."""
    s = spread(values)
    if s["count"] == 0:
        return f"none of {s['of']} runs"
    text = f"median {s['median']:{fmt}} (range {s['low']:{fmt}}–{s['high']:{fmt}})"
    return text if s["count"] == s["of"] else f"{s['count']} of {s['of']} runs; {text}"


def fisher_exact(successes_a: int, runs_a: int, successes_b: int, runs_b: int) -> float:
    """Two-sided p-value of Fisher's exact test: could two success counts differ this much by chance?

    Under the null hypothesis both settings succeed equally often; given the total number of successes,
    the count of setting a is hypergeometric. The p-value sums the probabilities of all tables no more
    likely than the observed one. (Written out because the course does not depend on SciPy, whose
    ``scipy.stats.fisher_exact`` computes the same value.)
    """
    if not (0 <= successes_a <= runs_a and 0 <= successes_b <= runs_b):
        raise ValueError(f"need 0 <= successes <= runs, got {successes_a}/{runs_a} and {successes_b}/{runs_b}")
    total = successes_a + successes_b
    low, high = max(0, total - runs_b), min(total, runs_a)

    def probability(k: int) -> float:
        return math.comb(runs_a, k) * math.comb(runs_b, total - k) / math.comb(runs_a + runs_b, total)

    observed = probability(successes_a)
    return min(1.0, sum(p for k in range(low, high + 1) if (p := probability(k)) <= observed * (1 + 1e-9)))
