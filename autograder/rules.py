"""What the course's answers may use, and the guards that watch what they run.

Two layers, both by object, never by spelling:

* static :class:`~autograder.spec.Rules`, applied by the judge to what :mod:`autograder.analysis`
  finds in the parsed answers: an allowlist of modules, library objects forbidden however they are
  reached, attribute names forbidden on objects nobody can know;
* runtime guards (:data:`GUARDS`), armed inside the sandbox by the runner only while the probes of a
  test that names them run, which record any forbidden computation whatever Python route reached it:
  ``recurrent`` overrides PyTorch's recurrent ATen operators (``aten::gru_cell``, ``aten::lstm.input``,
  ``aten::rnn_tanh_cell``...) and watches PyTorch's Python re-implementations of them (the
  decompositions, torch.ao's quantizable LSTM); ``autograd`` watches the two doors every gradient
  goes through (the backward engine, and forward-mode dual numbers), which ``backward()``,
  ``torch.autograd.grad``, ``torch.autograd.functional`` and every ``torch.func`` transform use.

The design rule that makes "defined where allowed, installed under another name" impossible: within
one assignment, what one test allows and another forbids is only ever something a runtime guard of
the stricter test watches (tested by ``test_rules_differ_only_in_what_a_guard_watches``). What no test
of an assignment allows is forbidden in every cell, so there is no cell to define it in.
"""
from __future__ import annotations

from autograder.spec import Rules

#: What every answer may import: the mathematics of the exercises, and no door to the process.
BASE_MODULES = ("math", "typing", "numpy", "numpy.linalg", "numpy.random", "torch", "torch.nn",
                "torch.nn.functional", "torch.nn.init", "torch.linalg")

#: Autograd's modules (the gradient-flow question may use them; the backward passes may not).
AUTOGRAD_MODULES = ("torch.autograd", "torch.autograd.functional", "torch.autograd.forward_ad", "torch.func")

#: PyTorch's own recurrent networks: every class of torch.nn.modules.rnn and every recurrent function.
RECURRENT = ("torch.nn.modules.rnn", "torch.gru", "torch.gru_cell", "torch.lstm", "torch.lstm_cell",
             "torch.rnn_tanh", "torch.rnn_tanh_cell", "torch.rnn_relu", "torch.rnn_relu_cell",
             "torch.quantized_gru", "torch.quantized_gru_cell", "torch.quantized_lstm",
             "torch.quantized_lstm_cell", "torch.quantized_rnn_tanh_cell", "torch.quantized_rnn_relu_cell",
             "torch.mkldnn_rnn_layer", "torch.miopen_rnn")

#: Autograd reached from a tensor (the modules themselves are kept out by the allowlist).
AUTOGRAD = ("torch.Tensor.backward", "torch.Tensor.requires_grad_", "torch.Tensor.retain_grad",
            "torch.Tensor.register_hook")
AUTOGRAD_ATTRIBUTES = ("backward", "requires_grad_", "retain_grad", "register_hook", "grad", "grad_fn")

#: Library functions that no answer may use, in any assignment: they look objects up by name
#: (unpickling), read or write the process's files, or compile code out of the guards' sight.
HIDING = ("torch.compile", "torch.load", "torch.save", "torch.from_file", "numpy.load", "numpy.save",
          "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "numpy.loadtxt", "numpy.genfromtxt",
          "numpy.fromfile", "numpy.fromregex", "numpy.memmap")

#: The runtime guards, as the plain data the runner arms them from. ``ops``: a regular expression
#: over ATen operator names (every overload is overridden to record and refuse); ``calls``: Python
#: functions whose call is recorded; ``files``: (module, regular expression over function names):
#: any function of that module's file whose name matches is recorded when called.
GUARDS: dict[str, dict] = {
    "recurrent": {
        "label": "PyTorch's own recurrent kernels",
        "ops": r"gru|lstm|rnn",
        "files": [["torch._decomp.decompositions", r"gru|lstm|rnn"],
                  ["torch.ao.nn.quantizable.modules.rnn", r"."],
                  ["torch.ao.nn.quantized.dynamic.modules.rnn", r"."],
                  ["torch.nn.modules.rnn", r"."]],
    },
    "autograd": {
        "label": "autograd",
        "calls": ["torch.autograd.graph._engine_run_backward", "torch.autograd.forward_ad.make_dual",
                  "torch.autograd.forward_ad.dual_level.__enter__"],
    },
}

#: A test of the course that may use autograd (and no recurrent network).
PLAIN = Rules(modules=BASE_MODULES + AUTOGRAD_MODULES, forbidden=RECURRENT, guards=("recurrent",))
#: A test "without autograd": the backward passes.
NO_AUTOGRAD = Rules(modules=BASE_MODULES, forbidden=RECURRENT + AUTOGRAD, attributes=AUTOGRAD_ATTRIBUTES,
                    guards=("recurrent", "autograd"))


def guards_of(rules: Rules | None) -> list[dict]:
    """The guard specifications the runner arms for a test with ``rules``."""
    return [GUARDS[name] for name in (rules.guards if rules else ())]


__all__ = ["AUTOGRAD", "AUTOGRAD_ATTRIBUTES", "AUTOGRAD_MODULES", "BASE_MODULES", "GUARDS", "HIDING",
           "NO_AUTOGRAD", "PLAIN", "RECURRENT", "guards_of"]
