"""Triton kernels of the GRU, in teaching order; each compiles on a CUDA device and runs on the CPU
under Triton's interpreter (``TRITON_INTERPRET=1``, set by :mod:`gated` when there is no GPU).

* :mod:`~gated.kernels.pointwise`: the fused elementwise step, ``gru_pointwise(gi, gh, h) -> h'``;
* :mod:`~gated.kernels.stepwise`: the cuDNN structure, ``gru_stepwise(x, state_dict, h0)``;
* :mod:`~gated.kernels.persistent`: the whole time loop in one launch, ``gru_persistent(x, state_dict, h0)``;
* :mod:`~gated.kernels.persistent_split`: the same with W_hh split across programs and a grid
  barrier per step, ``gru_persistent_split(x, state_dict, h0)``;
* :mod:`~gated.kernels.mingru`: minGRU, sequential and as a parallel scan.

Around them: :mod:`~gated.kernels.benchmark` times them against ``nn.GRU`` (``make bench``,
``bench/gpu_run.sh``), :mod:`~gated.kernels.baseline` says which cuDNN algorithm ``nn.GRU`` runs, and
:mod:`~gated.kernels.offline_compile` compiles them for sm_90 on a machine without a GPU.
"""
import gated  # noqa: F401  (must precede any import of triton)
