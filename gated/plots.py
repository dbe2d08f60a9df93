"""Figures that two chapters share, so that the LSTM's gates and the GRU's are drawn the same way.

:func:`gate_heatmaps` shows one adding-problem sequence and, under it, the value of each gate of every
unit at every step: the view in which the LSTM chapter and the GRU chapter compare their trained cells.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor


def gate_heatmaps(values: Tensor, marked: Tensor, gates: dict[str, Tensor], order: Tensor | None = None,
                  title: str = "", figsize: tuple[float, float] | None = None,
                  outline: int | None = None) -> Figure:
    """One sequence on top (marked steps in red), then one heat map per gate, units down, steps across.

    values, marked: (T,), the adding problem's values and markers; gates: ``{label: (T, H)}``, each in
    [0, 1] (dark: near 0, light: near 1); ``order``: the order of the H units, top row first (default
    as they are). The marked steps are drawn as red lines across every map; ``outline``, a unit's index,
    draws a white frame round that unit's row in every map (one row of many is otherwise easy to miss).
    """
    if values.dim() != 1 or marked.shape != values.shape:
        raise ValueError(f"values and marked must both be (T,), got {tuple(values.shape)} and {tuple(marked.shape)}")
    length = values.shape[0]
    for label, gate in gates.items():
        if gate.dim() != 2 or gate.shape[0] != length:
            raise ValueError(f"gate {label!r} must be (T, H) with T = {length}, got {tuple(gate.shape)}")
    hidden = next(iter(gates.values())).shape[1]
    order = torch.arange(hidden) if order is None else order
    rows = len(gates) + 1
    fig, axes = plt.subplots(rows, 1, figsize=figsize or (9, 1.2 + 1.9 * len(gates)), sharex=True,
                             layout="constrained", gridspec_kw={"height_ratios": [1] + [1.6] * len(gates)})
    marked_steps = np.flatnonzero(marked.numpy())
    axes[0].bar(range(length), values.numpy(), color=np.where(marked.numpy(), "tab:red", "0.75"))
    axes[0].set_ylabel("value")
    axes[0].set_title(title)
    for ax, (label, gate) in zip(axes[1:], gates.items()):
        image = ax.imshow(gate[:, order].T.numpy(), aspect="auto", vmin=0, vmax=1, cmap="viridis",
                          interpolation="nearest")
        for step in marked_steps:
            ax.axvline(step, color="tab:red", lw=1)
        if outline is not None:
            row = int(torch.nonzero(order == outline)[0])
            ax.add_patch(Rectangle((-0.5, row - 0.5), length, 1, fill=False, ec="white", lw=1.2))
        ax.grid(False)
        ax.set_ylabel(f"{label}\nunit (sorted)")
    fig.colorbar(image, ax=list(axes[1:]), pad=0.01, label="gate value")
    axes[-1].set_xlabel("step $t$ (red lines: the marked steps)")
    return fig
