"""gated: the course library of *Gated recurrent networks*.

Reference cells written from the equations (:mod:`gated.cells`), the conventions that differ between
papers and frameworks (:mod:`gated.conventions`), and, added by later chapters, tasks, training,
plots, widgets and Triton kernels.
"""
from gated.device import configure_triton

# Must run before anything imports triton: see gated/device.py.
KERNEL_BACKEND = configure_triton()

__version__ = "0.1.0"
