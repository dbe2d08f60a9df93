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
# The picture: 6 x 3.8 inches at 72 px per inch on the page (432 px wide, scaled down to fit a phone),
# drawn at twice that resolution so that it stays sharp on 2x screens and when zoomed.
FIGSIZE, SHOWN_DPI, PIXEL_RATIO = (6.0, 3.8), 72, 2


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
    with matplotlib.rc_context({"font.size": 12, "axes.titlesize": 12}):
        fig = Figure(figsize=FIGSIZE, dpi=SHOWN_DPI * PIXEL_RATIO, layout="constrained")  # no pyplot: not kept
        plot_curve(fig.add_subplot(), norms, cell, nonlinearity, radius, context)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _image(png: bytes, layout: widgets.Layout) -> widgets.Image:
    """The picture at its size on the page (half its pixels); ``layout`` lets it shrink with the window."""
    return widgets.Image(value=png, format="png", width=int(FIGSIZE[0] * SHOWN_DPI), layout=layout)


@dataclass
class GradientExplorer:
    """The grid of settings, the curves on it, and the two widgets (see the module docstring)."""

    radii: tuple[float, ...] = RADII
    lengths: tuple[int, ...] = LENGTHS
    cells: tuple[str, ...] = CELLS
    hidden_size: int = 32
    seed: int = 0
    initial_cell: str | None = None  # the cell selected when the widget first shows; None: cells[0]
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

    def controls(self, continuous: bool = False) -> dict[str, widgets.Widget]:
        """The controls: a choice of cell and of the RNN's nonlinearity, and two sliders, over the grid's
        values or (``continuous=True``, the live version) over any value. On the grid, a setting with a
        single value gets no control: it would do nothing."""
        style = {"description_width": "130px"}
        buttons = {"description_width": "130px", "button_width": "80px"}

        def slider(description: str) -> dict:
            return {"description": description, "style": style,
                    "layout": widgets.Layout(width="480px", max_width="100%")}   # never wider than the page

        makers = {
            "cell": lambda: widgets.ToggleButtons(options=list(self.cells), description="cell", style=buttons,
                                                  value=self.initial_cell or self.cells[0]),
            "nonlinearity": lambda: widgets.ToggleButtons(options=list(NONLINEARITIES), style=buttons,
                                                          description="RNN nonlinearity"),
        }
        if continuous:
            makers["radius"] = lambda: widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.05,
                                                           continuous_update=False, **slider("spectral radius"))
            makers["length"] = lambda: widgets.IntSlider(value=100, min=5, max=300, step=5,
                                                         continuous_update=False, **slider("sequence length"))
            return {name: make() for name, make in makers.items()}
        makers["radius"] = lambda: widgets.SelectionSlider(
            options=list(self.radii), value=1.0 if 1.0 in self.radii else self.radii[0], **slider("spectral radius"))
        makers["length"] = lambda: widgets.SelectionSlider(options=list(self.lengths), value=self.lengths[-1],
                                                           **slider("sequence length"))
        choices = {"cell": self.cells, "nonlinearity": NONLINEARITIES if "rnn" in self.cells else (),
                   "radius": self.radii, "length": self.lengths}
        return {name: make() for name, make in makers.items() if len(choices[name]) > 1}

    def static_widget(self) -> widgets.VBox:
        """Controls ``jslink``-ed to nested Stacks of precomputed images: works without a kernel."""
        self.compute()
        controls = self.controls()
        shrinking = widgets.Layout(max_width="100%", height="auto")   # one layout shared by every image

        def stack(children: list[widgets.Widget], name: str, initial: int = 0) -> widgets.Stack:
            """A Stack driven by the control ``name``, or fixed on its only child when it has none."""
            box = widgets.Stack(children, selected_index=controls[name].index if name in controls else initial)
            if name in controls:
                widgets.jslink((controls[name], "index"), (box, "selected_index"))
            return box

        def by_radius(cell: str, nonlinearity: str) -> widgets.Stack:
            children = []
            for radius in self.radii:
                images = []
                for length in self.lengths:
                    context = {r: self.curves[(cell, nonlinearity, r, length)] for r in self.radii}
                    images.append(_image(_png(self.curves[(cell, nonlinearity, radius, length)], cell,
                                              nonlinearity, radius, context), shrinking))
                children.append(stack(images, "length", len(self.lengths) - 1))
            return stack(children, "radius")

        per_cell = [stack([by_radius(cell, n) for n in NONLINEARITIES], "nonlinearity") if cell == "rnn"
                    else by_radius(cell, "tanh") for cell in self.cells]
        top = stack(per_cell, "cell", self.cells.index(self.initial_cell or self.cells[0]))
        return widgets.VBox([*controls.values(), top, widgets.HTML(STATIC_NOTE)],
                            layout=widgets.Layout(max_width="100%"))

    def live_widget(self) -> widgets.VBox:
        """Controls that recompute the curve in the kernel for any value (needs a running kernel)."""
        controls = self.controls(continuous=True)
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
