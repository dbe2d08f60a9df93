"""Helpers for the chapter *LSTM or GRU?*: models of matched size, the chorale experiment, timings.

Chung et al. (2014) compare a tanh RNN, a GRU and an LSTM of about the same number of parameters on
polyphonic music: 100, 46 and 36 units for 88 inputs. :data:`MATCHED_UNITS` holds those sizes and
:func:`matched_parameter_counts` checks them with :func:`gated.cells.parameter_count`.

:class:`FramePredictor` is a one-layer recurrent network with a sigmoid output per key, trained by
:func:`train_frame_predictor` to predict the next frame of a piano roll (loss: :func:`gated.music.frame_nll`).

Shapes: B batch, T time, K = 88 keys, H hidden size.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from gated import cells, music
from gated.training import torch_threads

CELLS = ("rnn", "gru", "lstm")
MATCHED_UNITS = {"rnn": 100, "gru": 46, "lstm": 36}
MODULES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def recurrent_module(cell: str, input_size: int, hidden_size: int) -> nn.Module:
    """A one-layer, batch-first ``nn.RNN`` (tanh), ``nn.GRU`` or ``nn.LSTM``."""
    if cell not in MODULES:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    return MODULES[cell](input_size, hidden_size, batch_first=True)


def matched_parameter_counts(input_size: int = music.NUM_KEYS,
                             units: dict[str, int] | None = None) -> dict[str, dict[str, int]]:
    """Parameters of each cell at its matched size: the recurrent layer, and with the output layer.

    Returns ``{cell: {"units", "recurrent", "with output"}}``; the output layer maps H units to
    ``input_size`` sigmoids (H·K weights and K biases). Checked against the PyTorch modules.
    """
    units = units or MATCHED_UNITS
    out = {}
    for cell, hidden in units.items():
        recurrent = cells.parameter_count(cell, input_size, hidden)
        module = recurrent_module(cell, input_size, hidden)
        counted = sum(p.numel() for p in module.parameters())
        if counted != recurrent:
            raise AssertionError(f"{cell}: parameter_count says {recurrent}, nn module has {counted}")
        out[cell] = {"units": hidden, "recurrent": recurrent,
                     "with output": recurrent + hidden * input_size + input_size}
    return out


def matched_hidden_size(cell: str, input_size: int, parameters: int) -> int:
    """The hidden size whose recurrent layer has the parameter count closest to ``parameters``."""
    if cell not in MODULES:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    return min(range(1, 4096),
               key=lambda h: (abs(cells.parameter_count(cell, input_size, h) - parameters), h))


class FramePredictor(nn.Module):
    """Recurrent layer and a linear read-out: frames (B, T, K) -> logits of the next frames (B, T, K)."""

    def __init__(self, cell: str, hidden_size: int, keys: int = music.NUM_KEYS):
        super().__init__()
        self.cell = cell
        self.rnn = recurrent_module(cell, keys, hidden_size)
        self.readout = nn.Linear(hidden_size, keys)

    def forward(self, x: Tensor) -> Tensor:
        hidden, _ = self.rnn(x)
        return self.readout(hidden)


@torch.no_grad()
def evaluate_nll(model: nn.Module, rolls: list[np.ndarray], batch_size: int = 64) -> float:
    """Frame-level NLL of ``model`` over all frames of ``rolls`` (nats per time step)."""
    model.eval()
    total, frames = 0.0, 0.0
    for inputs, targets, mask in music.batches(rolls, batch_size):
        total += music.frame_nll(model(inputs), targets, mask, reduction="sum").item()
        frames += mask.sum().item()
    return total / frames


@dataclass
class MusicRun:
    """One training run on the chorales; NLLs in nats per frame."""

    cell: str
    hidden_size: int
    seed: int
    parameters: int
    train_nll: list[float] = field(default_factory=list)
    valid_nll: list[float] = field(default_factory=list)
    seconds_per_epoch: float = 0.0
    best_epoch: int = -1
    test_nll: float = float("nan")  # at the epoch of the best validation NLL


def train_frame_predictor(cell: str, chorales: music.Chorales, hidden_size: int | None = None,
                          epochs: int = 20, seed: int = 0, batch_size: int = 16, lr: float = 3e-3,
                          clip: float = 1.0, threads: int | None = 1) -> MusicRun:
    """Train a :class:`FramePredictor` with Adam and gradient-norm clipping; keep the best epoch.

    The read-out bias starts at the log-odds of each key's frequency in the training split, so the
    untrained model is the memoryless baseline (:func:`gated.music.marginal_nll`) and not worse.
    ``threads``: as in :func:`gated.training.train`, one thread is fastest for models this small on a
    shared machine; ``None`` keeps PyTorch's setting.
    Each epoch visits the training pieces once in a seeded random order; after each epoch the model
    is scored on the validation split, and the test NLL is taken from the best validation epoch.
    """
    hidden_size = hidden_size or MATCHED_UNITS[cell]
    # Denormal floats (tiny Adam moments and gradients) slow the CPU many-fold; flush them to zero
    # while training, then restore PyTorch's default (off).
    torch.set_flush_denormal(True)
    try:
        with torch_threads(threads):
            return _train(cell, chorales, hidden_size, epochs, seed, batch_size, lr, clip)
    finally:
        torch.set_flush_denormal(False)


def _train(cell: str, chorales: music.Chorales, hidden_size: int, epochs: int, seed: int,
           batch_size: int, lr: float, clip: float) -> MusicRun:
    torch.manual_seed(seed)
    model = FramePredictor(cell, hidden_size)
    with torch.no_grad():  # start from the memoryless model: each key at its training frequency
        on = np.concatenate(chorales.rolls["train"]).mean(0).clip(1e-4, 1 - 1e-4)
        model.readout.bias.copy_(torch.as_tensor(np.log(on / (1 - on))))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    run = MusicRun(cell, hidden_size, seed, sum(p.numel() for p in model.parameters()))
    best_state, best_valid, seconds = None, float("inf"), 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        total, frames = 0.0, 0.0
        for inputs, targets, mask in music.batches(chorales.rolls["train"], batch_size, shuffle=True,
                                                   generator=generator):
            loss = music.frame_nll(model(inputs), targets, mask)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += loss.item() * mask.sum().item()
            frames += mask.sum().item()
        seconds += time.perf_counter() - start
        run.train_nll.append(total / frames)
        run.valid_nll.append(evaluate_nll(model, chorales.rolls["valid"]))
        if run.valid_nll[-1] < best_valid:
            best_valid, run.best_epoch = run.valid_nll[-1], epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    run.seconds_per_epoch = seconds / epochs
    model.load_state_dict(best_state)
    run.test_nll = evaluate_nll(model, chorales.rolls["test"])
    return run


def summarize_runs(runs: list[MusicRun]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation of the test NLL per cell, and the seconds per epoch."""
    out = {}
    for cell in dict.fromkeys(r.cell for r in runs):
        mine = [r for r in runs if r.cell == cell]
        test = np.array([r.test_nll for r in mine])
        out[cell] = {
            "units": mine[0].hidden_size,
            "parameters": mine[0].parameters,
            "seeds": len(mine),
            "test mean": float(test.mean()),
            "test std": float(test.std(ddof=1)) if len(mine) > 1 else 0.0,
            "seconds per epoch": float(np.mean([r.seconds_per_epoch for r in mine])),
        }
    return out


# ------------------------------------------------------------------------------ cost per step


def time_forward_backward(cell: str, input_size: int, hidden_size: int, batch: int = 32,
                          steps: int = 100, repeats: int = 5, seed: int = 0,
                          threads: int | None = 1) -> float:
    """Wall time (s) of one forward and backward pass of a PyTorch layer over ``steps`` steps.

    x: (B, T, I). The first pass is a warm-up and not counted; of the ``repeats`` that follow, the
    fastest is returned, the one least disturbed by other work on a shared machine. Timed on whatever device torch uses
    by default (the CPU here) with a plain timer.
    """
    torch.manual_seed(seed)
    module = recurrent_module(cell, input_size, hidden_size)
    x = torch.randn(batch, steps, input_size)
    times = []
    with torch_threads(threads):
        for i in range(repeats + 1):
            start = time.perf_counter()
            out, _ = module(x)
            out.sum().backward()
            if i:
                times.append(time.perf_counter() - start)
    return float(min(times))
