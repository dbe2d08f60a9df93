"""Run at the start of every kernel that executes a chapter for the website (sitebuild/kernel.py puts
it into the build's IPython profile; it is not imported by anything).

Figures are shown as SVG: vector, sharp on 2x screens and when a reader zooms, and they scale with
the page. Text stays text (`svg.fonttype: none`), which keeps the files small. A figure whose SVG would
be large (a scatter of thousands of points: every point is an element) is shown as a PNG at twice
its size on the page instead, whichever of the two is smaller.
"""
import matplotlib
from IPython import get_ipython
from IPython.core.pylabtools import print_figure, retina_figure
from matplotlib.figure import Figure

SVG_BUDGET = 200_000      # bytes of SVG above which the 2x PNG is tried
_png_instead: dict[int, tuple] = {}   # figure id -> the PNG chosen by the SVG formatter for this display


def _svg(fig: Figure):
    svg = print_figure(fig, "svg", bbox_inches="tight")
    if len(svg) > SVG_BUDGET:
        png = retina_figure(fig, base64=True, bbox_inches="tight")
        if len(png[0]) * 3 // 4 < len(svg):            # base64 is 4/3 of the PNG's bytes
            _png_instead[id(fig)] = png
            return None                               # no SVG: the PNG formatter, called next, shows it
    return svg


def _png(fig: Figure):
    return _png_instead.pop(id(fig), None)


def _install(*_event) -> None:
    """Our formatters for matplotlib figures, in place of the inline backend's."""
    formatters = get_ipython().display_formatter.formatters
    for formatter in formatters.values():
        formatter.pop(Figure, None)
    formatters["text/plain"].for_type(Figure, lambda fig, printer, cycle: printer.text(repr(fig)))
    formatters["image/svg+xml"].for_type(Figure, _svg)      # IPython calls the SVG formatter before the PNG one
    formatters["image/png"].for_type(Figure, _png)


shell = get_ipython()
if shell is not None:
    matplotlib.rcParams["svg.fonttype"] = "none"
    _install()
    # The inline backend selects its own formats once, when it is first configured, which can happen
    # after this file ran: install ours again before every cell and before its figures are shown
    # (this callback is registered before the backend's flush_figures, so it runs first).
    shell.events.register("pre_run_cell", _install)
    shell.events.register("post_execute", _install)
