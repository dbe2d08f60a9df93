"""What the kernel tests share: the device they run on, true float32 on CUDA, the error measure."""
from __future__ import annotations

import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # kernels compile on CUDA, else interpreted


@pytest.fixture(autouse=True)
def _true_float32_on_cuda():
    """cuDNN and cuBLAS may use TF32 for float32 on a GPU; the comparisons need true float32."""
    if DEVICE != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """‖got − want‖ / ‖want‖ (Frobenius)."""
    return ((got - want).norm() / want.norm()).item()
