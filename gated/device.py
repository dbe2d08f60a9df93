"""Where the course's kernels run: the single switch between a CUDA device and Triton's interpreter.

Triton reads ``TRITON_INTERPRET`` once, when it is first imported, so the choice has to be made
before any ``import triton``. Importing :mod:`gated` makes it; every kernel module imports
:mod:`gated` first, so no one else needs to.
"""
from __future__ import annotations

import os
import sys


def cuda_available() -> bool:
    """True when torch sees a CUDA device (False when torch is a CPU build)."""
    import torch

    return torch.cuda.is_available()


def configure_triton() -> str:
    """Set ``TRITON_INTERPRET=1`` when there is no CUDA device; return ``"cuda"`` or ``"interpreter"``.

    An explicit ``TRITON_INTERPRET`` in the environment is respected (set it to 1 on a GPU machine
    to debug a kernel in the interpreter).
    """
    if "TRITON_INTERPRET" not in os.environ and not cuda_available():
        if "triton" in sys.modules:
            raise RuntimeError(
                "triton was imported before gated, with no CUDA device and TRITON_INTERPRET unset; "
                "import gated first (or set TRITON_INTERPRET=1) so kernels can run on the CPU"
            )
        os.environ["TRITON_INTERPRET"] = "1"
    return "interpreter" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"


def kernel_backend() -> str:
    """``"interpreter"`` when Triton kernels run on the CPU, ``"cuda"`` when they are compiled."""
    return "interpreter" if os.environ.get("TRITON_INTERPRET") == "1" else "cuda"
