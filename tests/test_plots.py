"""gated.plots: the gate heat maps the LSTM and GRU chapters share."""
from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gated.plots import gate_heatmaps  # noqa: E402


def test_gate_heatmaps_draw_the_sequence_and_one_map_per_gate_in_the_given_order():
    gates = {"$z$": torch.rand(6, 3), "$r$": torch.rand(6, 3)}
    marked = torch.tensor([False, True, False, False, True, False])
    order = torch.tensor([2, 0, 1])
    fig = gate_heatmaps(torch.rand(6), marked, gates, order=order, title="t")
    sequence, z_map, r_map = fig.axes[:3]
    assert len(sequence.patches) == 6  # one bar per step
    assert torch.allclose(torch.as_tensor(z_map.images[0].get_array()), gates["$z$"][:, order].T)
    assert [line.get_xdata()[0] for line in r_map.lines] == [1, 4]  # the marked steps
    plt.close(fig)


def test_gate_heatmaps_name_a_gate_of_the_wrong_length():
    with pytest.raises(ValueError, match="gate 'z' must be"):
        gate_heatmaps(torch.rand(6), torch.zeros(6, dtype=torch.bool), {"z": torch.rand(5, 3)})


def test_gate_heatmaps_outline_the_row_of_the_unit_asked_for():
    order = torch.tensor([2, 0, 1])
    fig = gate_heatmaps(torch.rand(4), torch.zeros(4, dtype=torch.bool), {"$f$": torch.rand(4, 3)},
                        order=order, outline=0)
    frame = fig.axes[1].patches[0]
    assert frame.get_y() == 0.5  # unit 0 is the second row (row 1) once sorted
    plt.close(fig)
