"""gated.diagrams (cell drawings) and gated.explorer (the gradient-norm widget that works without a kernel)."""
from __future__ import annotations

import itertools

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances
from ipywidgets.widgets.widget_link import Link

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gated.diagrams import draw_cells_side_by_side, draw_gru_cell, draw_lstm_cell  # noqa: E402
from gated.explorer import GradientExplorer, explorer_curve, gradient_explorer  # noqa: E402


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_lstm_diagram_draws_the_four_gates_and_the_cell_state():
    fig, ax = plt.subplots()
    draw_lstm_cell(ax)
    labels = texts(ax)
    for name in (r"$f_t$", r"$i_t$", r"$g_t$", r"$o_t$", r"$c_{t-1}$", r"$c_t$", r"$x_t$"):
        assert name in labels
    assert labels.count(r"$\sigma$") == 3 and labels.count("tanh") == 2  # g and tanh(c_t)
    plt.close(fig)


def test_gru_diagram_draws_reset_update_and_candidate_without_a_cell_state():
    fig, ax = plt.subplots()
    draw_gru_cell(ax)
    labels = texts(ax)
    for name in (r"$r_t$", r"$z_t$", r"$n_t$", "1−", r"$h_{t-1}$"):
        assert name in labels
    assert not any("c_" in label for label in labels)
    plt.close(fig)


def test_gru_diagram_applies_the_reset_gate_after_the_recurrent_linear_map():
    """Reset after: W_hn h + b_hn is drawn on its own, below the × where r acts, not r on the raw state."""
    fig, ax = plt.subplots()
    draw_gru_cell(ax)
    by_text = {t.get_text(): t.get_position() for t in ax.texts}
    (hn_x, hn_y), (in_x, in_y) = by_text[r"$W_{hn} h + b_{hn}$"], by_text[r"$W_{in} x + b_{in}$"]
    products = [t.get_position() for t in ax.texts if t.get_text() == "×"]
    assert any(abs(x - hn_x) < 1e-9 and y > hn_y for x, y in products)  # the reset product sits above it
    n_x, n_y = by_text["tanh"]
    assert abs(in_x - n_x) < 1e-9 and in_y < n_y  # the input-side map feeds the candidate from below
    plt.close(fig)


def test_side_by_side_figure_holds_the_lstm_then_the_gru():
    fig = draw_cells_side_by_side()
    left, right = fig.axes
    assert r"$f_t$" in texts(left) and r"$z_t$" in texts(right)
    plt.close(fig)


SMALL = {"radii": (0.5, 1.5), "lengths": (10, 20), "hidden_size": 8}


@pytest.fixture(scope="module")
def static_widget():
    return gradient_explorer("static", **SMALL)


def controls_of(box: widgets.VBox) -> dict[str, widgets.Widget]:
    return {c.description: c for c in box.children if hasattr(c, "index")}


def links_from(control: widgets.Widget) -> list[Link]:
    """The jslinks whose source is ``control`` (from the registry of live widgets)."""
    return [w for w in list(_instances.values()) if isinstance(w, Link) and w.source[0] is control]


def shown_image(box: widgets.VBox, indices: dict[str, int]) -> bytes:
    """What the browser shows when each control has the given index, following only the jslinks."""
    controls = controls_of(box)
    linked = {}
    for name, control in controls.items():
        for link in links_from(control):
            assert link.source[1] == "index" and link.target[1] == "selected_index"
            linked[id(link.target[0])] = indices[name]
    node = next(c for c in box.children if isinstance(c, widgets.Stack))
    while isinstance(node, widgets.Stack):
        node = node.children[linked[id(node)]]  # every Stack on the way is driven by a link
    assert isinstance(node, widgets.Image)
    return bytes(node.value)


def test_every_control_of_the_static_explorer_is_jslinked_to_a_stack(static_widget):
    controls = controls_of(static_widget)
    assert set(controls) == {"cell", "RNN nonlinearity", "spectral radius", "sequence length"}
    for control in controls.values():
        assert links_from(control), f"{control.description} is not linked"


def test_each_setting_of_the_static_explorer_shows_its_own_image(static_widget):
    seen = {}
    for cell, nonlinearity, radius, length in itertools.product(range(3), range(2), range(2), range(2)):
        image = shown_image(static_widget, {"cell": cell, "RNN nonlinearity": nonlinearity,
                                            "spectral radius": radius, "sequence length": length})
        assert image.startswith(b"\x89PNG")
        seen[(cell, nonlinearity if cell == 0 else 0, radius, length)] = image
    assert len(set(seen.values())) == len(seen) == 2 * 2 * 2 + 2 * (2 * 2)  # RNN has two nonlinearities


def test_static_explorer_says_the_live_version_runs_in_jupyter(static_widget):
    note = static_widget.children[-1]
    assert isinstance(note, widgets.HTML) and "live" in note.value and "Jupyter" in note.value


def test_live_explorer_recomputes_when_a_control_changes(monkeypatch):
    calls = []
    import gated.explorer as explorer

    real = explorer.explorer_curve
    monkeypatch.setattr(explorer, "explorer_curve", lambda *a, **k: calls.append(a) or real(*a, **k))
    box = GradientExplorer(hidden_size=4).live_widget()
    radius = next(c for c in box.children if c.description == "spectral radius")
    radius.value = 2.0
    assert calls[-1][1] == 2.0 and len(calls) == 2
    plt.close("all")


def test_explorer_curve_of_a_linear_rnn_explodes_and_a_tanh_rnn_stays_bounded():
    linear = explorer_curve("rnn", 2.0, "linear", 60, hidden_size=16)
    tanh = explorer_curve("rnn", 2.0, "tanh", 60, hidden_size=16)
    assert linear.shape == (60,) and linear[-1] > 1e6 and np.all(tanh < 10)


def test_gradient_explorer_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="'static' or 'live'"):
        gradient_explorer("animated")


def test_static_explorer_can_open_on_another_cell():
    box = gradient_explorer("static", radii=(1.0,), lengths=(10,), hidden_size=4, initial_cell="gru")
    cell = controls_of(box)["cell"]
    top = next(c for c in box.children if isinstance(c, widgets.Stack))
    assert cell.value == "gru" and top.selected_index == cell.index == 2


def test_a_setting_with_one_value_on_the_grid_gets_no_control():
    box = gradient_explorer("static", cells=("gru", "lstm"), radii=(0.5, 1.0), lengths=(10,), hidden_size=4)
    assert set(controls_of(box)) == {"cell", "spectral radius"}   # no RNN, one length


def test_static_explorer_opens_on_the_first_cell_of_its_grid():
    box = gradient_explorer("static", cells=("gru", "rnn"), radii=(1.0,), lengths=(10,), hidden_size=4)
    assert controls_of(box)["cell"].value == "gru"


def test_explorer_images_are_drawn_at_twice_their_width_on_the_page(static_widget):
    import struct

    image = next(w for w in list(_instances.values()) if isinstance(w, widgets.Image))
    pixels = struct.unpack(">I", bytes(image.value)[16:20])[0]      # the PNG header's width
    assert pixels == 2 * int(image.width) and image.layout.max_width == "100%"
