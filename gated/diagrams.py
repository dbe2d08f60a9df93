"""Cell diagrams of the LSTM and the GRU, drawn with matplotlib (no image files).

:func:`draw_lstm_cell` and :func:`draw_gru_cell` draw on a given ``Axes`` (in data coordinates
0..10 × 0..6.4); :func:`draw_cells_side_by_side` puts both in one figure for the GRU chapter.
The drawings follow PyTorch's equations: LSTM gates i, f, g, o with c' = f ⊙ c + i ⊙ g and
h' = o ⊙ tanh(c'); GRU gates r, z and candidate n with the reset gate applied to the recurrent
part of the candidate's input (reset "after": r multiplies W_hn h + b_hn, drawn as its own box before
the product) and h' = (1 − z) ⊙ n + z ⊙ h.
Gate boxes are drawn in :data:`GATE_COLORS`, affine maps drawn on their own as white boxes, pointwise
operations as circles.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

GATE_COLORS = {"sigmoid": "#f6c28b", "tanh": "#a9cce3"}
LINE = {"color": "0.2", "lw": 1.4}
BOX_W, BOX_H = 0.9, 0.6
LIN_W, LIN_H = 1.55, 0.42
OP_R = 0.26


def _frame(ax: Axes, title: str | None) -> None:
    ax.set_xlim(-0.3, 10.3)
    ax.set_ylim(-0.5, 6.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((0.6, 0.4), 8.8, 5.0, boxstyle="round,pad=0.05,rounding_size=0.3",
                                fc="#f4f6f7", ec="0.6", lw=1.0, zorder=0))
    if title:
        ax.set_title(title)


def _path(ax: Axes, points: list[tuple[float, float]], arrow: bool = True) -> None:
    """A polyline through ``points``, with an arrowhead at the end when ``arrow``."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1] if arrow else xs, ys[:-1] if arrow else ys, zorder=1, **LINE)
    if arrow:
        ax.annotate("", xy=points[-1], xytext=points[-2], zorder=1,
                    arrowprops={"arrowstyle": "-|>", "color": LINE["color"], "lw": LINE["lw"],
                                "shrinkA": 0, "shrinkB": 0})


def _gate(ax: Axes, center: tuple[float, float], kind: str, name: str) -> None:
    """A gate: a box holding σ or tanh, its name beside it."""
    x, y = center
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=GATE_COLORS[kind], ec="0.3", lw=1.0, zorder=3))
    ax.text(x, y, r"$\sigma$" if kind == "sigmoid" else "tanh", ha="center", va="center",
            fontsize=11 if kind == "sigmoid" else 9, zorder=4)
    ax.text(x - BOX_W / 2 - 0.08, y + BOX_H / 2 + 0.08, name, ha="right", va="bottom", fontsize=11,
            zorder=4)


def _op(ax: Axes, center: tuple[float, float], symbol: str) -> None:
    """A pointwise operation: ×, +, 1− or tanh in a circle."""
    ax.add_patch(Circle(center, OP_R, fc="white", ec="0.2", lw=1.2, zorder=3))
    size = {"×": 13, "+": 13}.get(symbol, 7)
    ax.text(*center, symbol, ha="center", va="center", fontsize=size, zorder=4)


def _label(ax: Axes, xy: tuple[float, float], text: str, **kw) -> None:
    kw.setdefault("fontsize", 12)
    ax.text(*xy, text, ha=kw.pop("ha", "center"), va=kw.pop("va", "center"), **kw)


def draw_lstm_cell(ax: Axes, title: str | None = "LSTM") -> Axes:
    """Draw one LSTM step (PyTorch's gates i, f, g, o) on ``ax``; return ``ax``."""
    _frame(ax, title)
    top, bus, gate_y = 4.8, 1.0, 2.2
    f_x, i_x, g_x, o_x, ig_x, out_x, h_x = 2.4, 3.7, 5.3, 6.6, 4.5, 7.7, 8.8
    # Cell state: the carousel along the top.
    _path(ax, [(-0.2, top), (f_x - OP_R, top)])
    _path(ax, [(f_x + OP_R, top), (ig_x - OP_R, top)])
    _path(ax, [(ig_x + OP_R, top), (10.2, top)])
    _label(ax, (-0.2, top + 0.35), r"$c_{t-1}$", ha="left")
    _label(ax, (10.2, top + 0.35), r"$c_t$", ha="right")
    # Inputs: h_{t-1} and x_t share a bus feeding the four gates.
    _path(ax, [(-0.2, bus), (o_x, bus)], arrow=False)
    _label(ax, (-0.2, bus - 0.35), r"$h_{t-1}$", ha="left")
    _path(ax, [(1.3, -0.4), (1.3, bus)], arrow=False)
    _label(ax, (1.0, -0.25), r"$x_t$")
    for x in (f_x, i_x, g_x, o_x):
        _path(ax, [(x, bus), (x, gate_y - BOX_H / 2)])
    _gate(ax, (f_x, gate_y), "sigmoid", r"$f_t$")
    _gate(ax, (i_x, gate_y), "sigmoid", r"$i_t$")
    _gate(ax, (g_x, gate_y), "tanh", r"$g_t$")
    _gate(ax, (o_x, gate_y), "sigmoid", r"$o_t$")
    # f ⊙ c_{t-1}
    _path(ax, [(f_x, gate_y + BOX_H / 2), (f_x, top - OP_R)])
    _op(ax, (f_x, top), "×")
    # i ⊙ g, added to the carousel
    mul_y = 3.6
    _path(ax, [(i_x, gate_y + BOX_H / 2), (i_x, mul_y), (ig_x - OP_R, mul_y)])
    _path(ax, [(g_x, gate_y + BOX_H / 2), (g_x, mul_y), (ig_x + OP_R, mul_y)])
    _op(ax, (ig_x, mul_y), "×")
    _path(ax, [(ig_x, mul_y + OP_R), (ig_x, top - OP_R)])
    _op(ax, (ig_x, top), "+")
    # h_t = o ⊙ tanh(c_t)
    tanh_y, hmul_y = 3.9, 2.9
    _path(ax, [(out_x, top), (out_x, tanh_y + OP_R)])
    _op(ax, (out_x, tanh_y), "tanh")
    _path(ax, [(out_x, tanh_y - OP_R), (out_x, hmul_y + OP_R)])
    _path(ax, [(o_x + BOX_W / 2, gate_y), (out_x, gate_y), (out_x, hmul_y - OP_R)])
    _op(ax, (out_x, hmul_y), "×")
    _path(ax, [(out_x + OP_R, hmul_y), (h_x, hmul_y), (h_x, bus), (10.2, bus)])
    _label(ax, (10.2, bus - 0.35), r"$h_t$ (output and next state)", ha="right", fontsize=10)
    ax.set_ylim(-0.5, 5.8)  # nothing leaves through the top
    return ax


def _linear(ax: Axes, center: tuple[float, float], text: str) -> None:
    """An affine map drawn on its own (white box), where the drawing must show which input it reads."""
    x, y = center
    ax.add_patch(FancyBboxPatch((x - LIN_W / 2, y - LIN_H / 2), LIN_W, LIN_H,
                                boxstyle="round,pad=0.02,rounding_size=0.06", fc="white", ec="0.3", lw=1.0,
                                zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=9, zorder=4)


def draw_gru_cell(ax: Axes, title: str | None = "GRU") -> Axes:
    """Draw one GRU step (PyTorch's gates r, z and candidate n, reset after W_hn h) on ``ax``.

    The σ boxes of r and z apply the sigmoid to an affine map of both inputs, as in the LSTM drawing.
    The candidate's two affine maps are drawn apart, as white boxes, because the reset gate acts
    between them: it multiplies W_hn h_{t-1} + b_hn, the recurrent part, after the product and before
    the sum with W_in x_t + b_in (PyTorch's reset-after form).
    """
    _frame(ax, title)
    top, bus, gate_y = 4.8, 1.0, 2.2
    z_x, r_x, lin_h_x, n_x, h_x = 2.4, 3.8, 5.2, 7.0, 8.8
    lin_y, rmul_y, n_y, mix_y, one_minus_x = 1.65, 2.7, 2.7, 3.9, 4.6
    # The state runs along the top: z ⊙ h_{t-1} + (1 − z) ⊙ n.
    _path(ax, [(-0.2, top), (z_x - OP_R, top)])
    _path(ax, [(z_x + OP_R, top), (n_x - OP_R, top)])
    _path(ax, [(n_x + OP_R, top), (10.2, top)])
    _label(ax, (-0.2, top + 0.35), r"$h_{t-1}$", ha="left")
    _label(ax, (10.2, top + 0.35), r"$h_t$", ha="right")
    # h_{t-1} also drops to the bus it shares with x_t.
    _path(ax, [(0.9, top), (0.9, bus)], arrow=False)
    _path(ax, [(0.9, bus), (n_x, bus)], arrow=False)
    _path(ax, [(1.5, -0.4), (1.5, bus)], arrow=False)
    _label(ax, (1.2, -0.25), r"$x_t$")
    for x in (z_x, r_x):
        _path(ax, [(x, bus), (x, gate_y - BOX_H / 2)])
    _gate(ax, (z_x, gate_y), "sigmoid", r"$z_t$")
    _gate(ax, (r_x, gate_y), "sigmoid", r"$r_t$")
    # The candidate: tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); each affine map reads its own input.
    _path(ax, [(lin_h_x, bus), (lin_h_x, lin_y - LIN_H / 2)])
    _linear(ax, (lin_h_x, lin_y), r"$W_{hn} h + b_{hn}$")
    _path(ax, [(lin_h_x, lin_y + LIN_H / 2), (lin_h_x, rmul_y - OP_R)])
    _path(ax, [(r_x, gate_y + BOX_H / 2), (r_x, 3.25), (lin_h_x, 3.25), (lin_h_x, rmul_y + OP_R)])
    _op(ax, (lin_h_x, rmul_y), "×")
    _path(ax, [(lin_h_x + OP_R, rmul_y), (n_x - BOX_W / 2, n_y)])
    _path(ax, [(n_x, bus), (n_x, lin_y - LIN_H / 2)])
    _linear(ax, (n_x, lin_y), r"$W_{in} x + b_{in}$")
    _path(ax, [(n_x, lin_y + LIN_H / 2), (n_x, n_y - BOX_H / 2)])
    _gate(ax, (n_x, n_y), "tanh", r"$n_t$")
    # z keeps the old state, 1 − z lets the candidate in.
    _path(ax, [(z_x, gate_y + BOX_H / 2), (z_x, top - OP_R)])
    _op(ax, (z_x, top), "×")
    _path(ax, [(z_x, mix_y), (one_minus_x - OP_R, mix_y)])
    _op(ax, (one_minus_x, mix_y), "1−")
    _path(ax, [(one_minus_x + OP_R, mix_y), (n_x - OP_R, mix_y)])
    _path(ax, [(n_x, n_y + BOX_H / 2), (n_x, mix_y - OP_R)])
    _op(ax, (n_x, mix_y), "×")
    _path(ax, [(n_x, mix_y + OP_R), (n_x, top - OP_R)])
    _op(ax, (n_x, top), "+")
    _path(ax, [(h_x, top), (h_x, 6.3)])
    _label(ax, (h_x + 0.15, 6.1), r"$h_t$", ha="left")
    return ax


def draw_cells_side_by_side(figsize: tuple[float, float] = (11.0, 3.8)) -> Figure:
    """One figure: the LSTM cell (left) beside the GRU cell (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="constrained")
    draw_lstm_cell(left, "LSTM: cell state c and output h")
    draw_gru_cell(right, "GRU: one state h")
    left.set_ylim(right.get_ylim())  # same scale side by side
    return fig
