"""The baseline of the benchmark: which algorithm ``nn.GRU`` runs on a CUDA device, by rule and by trace.

PyTorch decides in two places, and :func:`nn_gru_algorithm` follows both for a single forward call:

* ``use_cudnn`` in ``aten/src/ATen/native/RNN.cpp`` sends float64, float32 and float16 to cuDNN, and
  bfloat16 only where ``supportsBFloat16RNNWithCuDNN()`` holds (which depends on the cuDNN PyTorch was
  built with); otherwise ``nn.GRU`` runs PyTorch's own loop of matrix products and a fused GRU cell.
* ``get_algo`` in ``aten/src/ATen/native/cudnn/RNN.cpp`` (read at pytorch/pytorch commit 00fc08aa616f)
  picks cuDNN's algorithm: for input that is not packed and not float64, ``use_rnn_persist_small_h``
  gives ``CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H`` to the GRU and the LSTM on compute capability ≥ 6.0
  when H ≤ 192 in the forward pass (H ≤ 128 backward); else float16 alone may get
  ``CUDNN_RNN_ALGO_PERSIST_STATIC`` (one layer, unidirectional, H ≤ 1024, H and I multiples of 128,
  and a device rule that, on GPUs of compute capability ≥ 8 with ≥ 98 SMs, excludes the GRU); everything
  else gets ``CUDNN_RNN_ALGO_STANDARD``, one matrix product per step.

So at H ≤ 192 the kernels race cuDNN's persistent small-H kernel, and at H 256–1024 its standard
algorithm. The rule is PyTorch's code read, not run: :func:`profile_nn_gru` records what a call
actually launched (the CUDA kernels' names and whether ``aten::_cudnn_rnn`` ran), which the bench record
keeps beside the rule.
"""
from __future__ import annotations

from collections import Counter

import torch

STANDARD = "CUDNN_RNN_ALGO_STANDARD"
PERSIST_STATIC = "CUDNN_RNN_ALGO_PERSIST_STATIC"
PERSIST_STATIC_SMALL_H = "CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H"
NATIVE = "no cuDNN: PyTorch's native GRU loop"


def _persist_device_rule(batch: int, steps: int, major: int, minor: int) -> bool:
    """``use_persist_device_heuristics`` for the GRU: only compute capability 7.x other than 7.5 can pass
    (on ≥ 8 with ≥ 98 SMs the GRU is excluded by name, and other devices get no persistent kernel)."""
    if major != 7 or minor == 5:
        return False
    return (((batch % 16 == 0 and batch not in (80, 112)) or batch == 8)
            and ((steps >= 40 and batch <= 128) or (steps >= 20 and batch <= 96)
                 or (steps >= 10 and batch <= 32)))


def nn_gru_algorithm(hidden: int, dtype: str, *, major: int, minor: int = 0,
                     batch: int = 16, steps: int = 512, inputs: int | None = None, layers: int = 1,
                     bidirectional: bool = False, packed: bool = False, forward: bool = True,
                     bf16_in_cudnn: bool | None = None) -> str:
    """The algorithm PyTorch's rule gives ``nn.GRU`` (see the module docstring).

    ``dtype`` is "float32", "bfloat16", "float16" or "float64"; ``major.minor`` the compute capability.
    ``bf16_in_cudnn`` says whether this PyTorch build sends bfloat16 RNNs to cuDNN; None (unknown)
    answers for both cases.
    """
    if dtype == "bfloat16" and not bf16_in_cudnn:
        if bf16_in_cudnn is None:
            cudnn = nn_gru_algorithm(hidden, "float32", major=major, minor=minor, batch=batch,
                                     steps=steps, inputs=inputs, layers=layers, forward=forward,
                                     bidirectional=bidirectional, packed=packed)
            return f"{cudnn} if this build runs bfloat16 RNNs in cuDNN, else {NATIVE}"
        return NATIVE
    if packed:
        return STANDARD
    if dtype != "float64" and major >= 6 and hidden <= (192 if forward else 128):
        return PERSIST_STATIC_SMALL_H
    inputs = hidden if inputs is None else inputs
    if (dtype == "float16" and layers == 1 and not bidirectional and hidden <= 1024
            and hidden % 128 == 0 and inputs % 128 == 0
            and _persist_device_rule(batch, steps, major, minor)):
        return PERSIST_STATIC
    return STANDARD


def profile_nn_gru(module: torch.nn.GRU, x: torch.Tensor, h0: torch.Tensor, top: int = 8) -> dict:
    """Run ``module(x, h0)`` once under PyTorch's profiler; what it launched.

    Returns whether ``aten::_cudnn_rnn`` ran, the ``top`` most frequent device kernels with their
    counts (none on the CPU), and whether any kernel name says it is persistent.
    """
    activities = [torch.profiler.ProfilerActivity.CPU]
    if x.is_cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.no_grad():
        module(x, h0)  # outside the profile: cuDNN's plans and workspaces are made here
        with torch.profiler.profile(activities=activities) as prof:
            module(x, h0)
            if x.is_cuda:
                torch.cuda.synchronize()
    ops, kernels = set(), Counter()
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name] += 1
        else:
            ops.add(event.name)
    names = [name for name, _ in kernels.most_common(top)]
    return {"aten::_cudnn_rnn ran": "aten::_cudnn_rnn" in ops,
            "kernels": {name: kernels[name] for name in names},
            "distinct kernels": len(kernels),
            "a kernel named persistent": any("persist" in name.lower() for name in kernels)}
