"""The gradient-norm explorer: how strongly h_T depends on the input k steps back, for any setting.

Two versions of the same explorer (cell type, nonlinearity, spectral radius, sequence length):

* ``gradient_explorer(mode="static")`` precomputes the curve for every setting of a grid and puts the
  images in nested ``ipywidgets.Stack`` widgets whose ``selected_index`` is ``jslink``-ed to the
  controls. The switching happens in the browser, so it works on the static website, where there is
  no kernel; it works the same in Jupyter.
* ``gradient_explorer(mode="live")`` recomputes the curve in the kernel for any value of the controls
  (a continuous spectral-radius slider, any length): it needs a running kernel (Jupyter).

The curve is :func:`gated.gradients.gradient_norm_vs_lag`: ‖∂h_T/∂x_{T-k}‖ against the lag k, for a
randomly initialised layer whose recurrent gate blocks have the chosen spectral radius. The
nonlinearity ("tanh" or "linear") applies to the RNN only.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np

from gated.gradients import gradient_norm_vs_lag

RADII = (0.5, 1.0, 1.5, 2.0, 3.0)
LENGTHS = (25, 50, 100)
CELLS = ("rnn", "lstm", "gru")
NONLINEARITIES = ("tanh", "linear")
Y_LIMITS = (1e-25, 1e20)
COLORS = {"rnn": "tab:blue", "lstm": "tab:orange", "gru": "tab:green"}

STATIC_NOTE = (
    "<small>Curves precomputed when this page was built, on a grid of settings; the controls switch "
    "between them in your browser. Opened in Jupyter, <code>gradient_explorer(mode=\"live\")</code> "
    "recomputes the curve for any value.</small>"
)


def explorer_curve(cell: str, spectral_radius: float, nonlinearity: str, length: int,
                   hidden_size: int = 32, seed: int = 0) -> np.ndarray:
    """‖∂h_T/∂x_{T-k}‖ for k = 0..T-1, shape (T,): :func:`gradient_norm_vs_lag` as a NumPy array."""
    norms = gradient_norm_vs_lag(cell, hidden_size=hidden_size, length=length,
                                 spectral_radius=spectral_radius,
                                 nonlinearity=nonlinearity if cell == "rnn" else "tanh", seed=seed)
    return norms.numpy()


def _label(cell: str, nonlinearity: str) -> str:
    return f"{nonlinearity} RNN" if cell == "rnn" else cell.upper()


def plot_curve(ax: matplotlib.axes.Axes, norms: np.ndarray, cell: str, nonlinearity: str,
               spectral_radius: float, context: dict[float, np.ndarray] | None = None) -> None:
    """Draw one curve (log scale, fixed limits) on ``ax``; ``context`` curves are drawn faintly behind."""
    for radius, other in (context or {}).items():
        if radius != spectral_radius:
            ax.semilogy(np.arange(len(other)), np.clip(other, 1e-300, None), color="0.8", lw=1)
    ax.semilogy(np.arange(len(norms)), np.clip(norms, 1e-300, None), color=COLORS[cell], lw=2)
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_ylim(*Y_LIMITS)
    ax.set_xlim(0, max(len(norms) - 1, 1))
    ax.set_xlabel("lag k (steps back from the last one)")
    ax.set_ylabel(r"$\|\partial h_T / \partial x_{T-k}\|$")
    ax.set_title(f"{_label(cell, nonlinearity)}, spectral radius {spectral_radius:g}, T = {len(norms)}",
                 fontsize=10)


def _png(norms, cell, nonlinearity, radius, context) -> bytes:
    fig = Figure(figsize=(5.6, 3.3), dpi=72)  # no pyplot: not shown, not kept
    ax = fig.add_axes((0.14, 0.15, 0.82, 0.75))
    plot_curve(ax, norms, cell, nonlinearity, radius, context)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


@dataclass
class GradientExplorer:
    """The grid of settings, the curves on it, and the two widgets (see the module docstring)."""

    radii: tuple[float, ...] = RADII
    lengths: tuple[int, ...] = LENGTHS
    cells: tuple[str, ...] = CELLS
    hidden_size: int = 32
    seed: int = 0
    initial_cell: str = "rnn"  # the cell selected when the widget first shows
    curves: dict[tuple[str, str, float, int], np.ndarray] = field(default_factory=dict, repr=False)

    def variants(self, cell: str) -> tuple[str, ...]:
        """The nonlinearities that apply to ``cell`` (only the RNN has a choice)."""
        return NONLINEARITIES if cell == "rnn" else ("tanh",)

    def compute(self) -> "GradientExplorer":
        """Compute every curve of the grid (cells × nonlinearities × radii × lengths)."""
        for cell in self.cells:
            for nonlinearity in self.variants(cell):
                for radius in self.radii:
                    for length in self.lengths:
                        key = (cell, nonlinearity, radius, length)
                        if key not in self.curves:
                            self.curves[key] = explorer_curve(cell, radius, nonlinearity, length,
                                                              self.hidden_size, self.seed)
        return self

    def controls(self) -> dict[str, widgets.Widget]:
        """The four controls, shared by both versions' layout."""
        style = {"description_width": "130px"}
        buttons = {"description_width": "130px", "button_width": "80px"}
        wide = widgets.Layout(width="480px")
        return {
            "cell": widgets.ToggleButtons(options=list(self.cells), value=self.initial_cell,
                                          description="cell", style=buttons),
            "nonlinearity": widgets.ToggleButtons(options=list(NONLINEARITIES),
                                                  description="RNN nonlinearity", style=buttons),
            "radius": widgets.SelectionSlider(options=list(self.radii), value=1.0 if 1.0 in self.radii
                                              else self.radii[0], description="spectral radius",
                                              style=style, layout=wide),
            "length": widgets.SelectionSlider(options=list(self.lengths), value=self.lengths[-1],
                                              description="sequence length", style=style, layout=wide),
        }

    def static_widget(self) -> widgets.VBox:
        """Controls ``jslink``-ed to nested Stacks of precomputed images: works without a kernel."""
        self.compute()
        controls = self.controls()
        radius_stacks, length_stacks = [], []

        def by_radius(cell: str, nonlinearity: str) -> widgets.Stack:
            children = []
            for radius in self.radii:
                images = []
                for length in self.lengths:
                    context = {r: self.curves[(cell, nonlinearity, r, length)] for r in self.radii}
                    png = _png(self.curves[(cell, nonlinearity, radius, length)], cell, nonlinearity,
                               radius, context)
                    images.append(widgets.Image(value=png, format="png"))
                stack = widgets.Stack(images, selected_index=controls["length"].index)
                length_stacks.append(stack)
                children.append(stack)
            stack = widgets.Stack(children, selected_index=controls["radius"].index)
            radius_stacks.append(stack)
            return stack

        per_cell = []
        for cell in self.cells:
            if cell == "rnn":
                nonlinearity_stack = widgets.Stack([by_radius(cell, n) for n in NONLINEARITIES],
                                                   selected_index=controls["nonlinearity"].index)
                widgets.jslink((controls["nonlinearity"], "index"), (nonlinearity_stack, "selected_index"))
                per_cell.append(nonlinearity_stack)
            else:
                per_cell.append(by_radius(cell, "tanh"))
        top = widgets.Stack(per_cell, selected_index=controls["cell"].index)
        widgets.jslink((controls["cell"], "index"), (top, "selected_index"))
        for stack in radius_stacks:
            widgets.jslink((controls["radius"], "index"), (stack, "selected_index"))
        for stack in length_stacks:
            widgets.jslink((controls["length"], "index"), (stack, "selected_index"))
        return widgets.VBox([*controls.values(), top, widgets.HTML(STATIC_NOTE)])

    def live_widget(self) -> widgets.VBox:
        """Controls that recompute the curve in the kernel for any value (needs a running kernel)."""
        style = {"description_width": "130px"}
        controls = self.controls()
        controls["radius"] = widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.05,
                                                 continuous_update=False, description="spectral radius",
                                                 style=style, layout=widgets.Layout(width="480px"))
        controls["length"] = widgets.IntSlider(value=100, min=5, max=300, step=5, continuous_update=False,
                                               description="sequence length", style=style,
                                               layout=widgets.Layout(width="480px"))
        output = widgets.Output()

        def redraw(_change=None) -> None:
            cell, nonlinearity = controls["cell"].value, controls["nonlinearity"].value
            radius, length = controls["radius"].value, controls["length"].value
            norms = explorer_curve(cell, radius, nonlinearity, length, self.hidden_size, self.seed)
            with output:
                output.clear_output(wait=True)
                fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
                plot_curve(ax, norms, cell, nonlinearity if cell == "rnn" else "tanh", radius)
                plt.show()

        for control in controls.values():
            control.observe(redraw, names="value")
        redraw()
        return widgets.VBox([*controls.values(), output])


def gradient_explorer(mode: str = "static", **grid) -> widgets.VBox:
    """The explorer widget: ``mode="static"`` (precomputed, works without a kernel) or ``"live"``.

    ``grid`` is passed to :class:`GradientExplorer` (``radii``, ``lengths``, ``cells``, ``hidden_size``,
    ``seed``, ``initial_cell``: e.g. ``gradient_explorer(initial_cell="gru")``).
    """
    explorer = GradientExplorer(**grid)
    if mode == "static":
        return explorer.static_widget()
    if mode == "live":
        return explorer.live_widget()
    raise ValueError(f"mode must be 'static' or 'live', got {mode!r}")
