"""Planted mistakes: text edits of the solutions' answer cells, one (at least) per entry of the
catalogue :data:`gated.checks.MISTAKES`, each with the test cells it must fail and the message each
must give. :func:`testbed.submissions.answers` applies them.
"""
from __future__ import annotations

from dataclasses import dataclass

from gated.checks import MISTAKES
from testbed.submissions import Edits


@dataclass(frozen=True)
class PlantedMistake:
    """A text edit of one answer cell and what the checks must say about it."""

    name: str  # a test id
    assignment: str
    cell: str  # the answer cell's grade_id
    edits: tuple[tuple[str, str], ...]  # (old, new) replacements, each old must occur
    failing: dict  # grade_id of each test cell that must fail -> a text its feedback must contain
    more: tuple = ()  # further (cell, edits) pairs, for a mistake that spans answer cells

    def all_edits(self) -> Edits:
        """The edits by answer cell, as :func:`testbed.submissions.answers` takes them."""
        return {self.cell: self.edits, **dict(self.more)}


def _m(key: str) -> str:
    return MISTAKES[key]


def _gate_load(gate: str, block: int) -> str:
    """The lstm_kernel solution's line that loads gate ``gate`` from column block ``block``."""
    offset = f" + {block} * H" if block > 1 else " + H" if block == 1 else ""
    return (f"a_{gate} = tl.load(from_x{offset}, mask=inside, other=0.0) + "
            f"tl.load(from_h{offset}, mask=inside, other=0.0)")


#: The lstm_kernel solution's launch, and the step in plain PyTorch arithmetic that no rule forbids
#: (torch.exp, not the activations the exercise asks for), so only the judge's run-time check of
#: where the outputs were computed can tell.
_LAUNCH = ("    lstm_pointwise_kernel[grid](gi, gh, c, h_next, c_next, B, H, gi.stride(0), gh.stride(0),\n"
           "                                c.stride(0), h_next.stride(0), BLOCK_B=block_b, BLOCK_H=block_h)\n")
_TORCH_STEP = ("i, f, g, o = (gi + gh).chunk(4, dim=1)\n"
               "    gate = lambda a: 1 / (1 + torch.exp(-a))\n"
               "    squash = lambda a: 2 * gate(2 * a) - 1\n"
               "    c_next = gate(f) * c + gate(i) * squash(g)\n"
               "    return gate(o) * squash(c_next), c_next")


#: The return lines of the solution's two gates (each edit must touch one gate only).
RESET_GATE = ("rows = slice(0, H)\n    return torch.sigmoid(x @ weight_ih[rows].T + bias_ih[rows] + "
              "h @ weight_hh[rows].T + bias_hh[rows])")
UPDATE_GATE = RESET_GATE.replace("slice(0, H)", "slice(H, 2 * H)")


def planted_mistakes() -> list[PlantedMistake]:
    """The catalogue of planted mistakes."""
    P = PlantedMistake
    return [
        P("reset_before", "gru", "answer_candidate",
          (("r * (h @ weight_hh[rows].T + bias_hh[rows])", "(r * h) @ weight_hh[rows].T + bias_hh[rows]"),),
          {"test_candidate_after": _m("reset_before"), "test_gru_cell": _m("reset_before"),
           "test_gru_layer": _m("reset_before"), "test_gru_module": _m("reset_before"),
           "test_gradient_flow": _m("reset_before")}),
        P("reset_after_for_before", "gru", "answer_candidate",
          (("(r * h) @ weight_hh[rows].T + bias_hh[rows]", "r * (h @ weight_hh[rows].T + bias_hh[rows])"),),
          {"test_candidate_before": _m("reset_after")}),
        P("update_swapped", "gru", "answer_cell",
          (("return (1 - z) * n + z * h", "return z * n + (1 - z) * h"),),
          {"test_new_state": _m("update_swapped"), "test_gru_cell": _m("update_swapped"),
           "test_gru_layer": _m("update_swapped"), "test_gru_module": _m("update_swapped"),
           "test_gradient_flow": "norm"}),
        P("gate_order_zrn", "gru", "answer_gates",
          (("rows = slice(0, H)", "rows = slice(H, 2 * H)  # z"),
           ("rows = slice(H, 2 * H)\n", "rows = slice(0, H)\n")),
          {"test_reset_gate": _m("rows_of_z"), "test_update_gate": _m("rows_of_r"),
           "test_gru_cell": _m("gate_order_zrn"), "test_gru_layer": _m("gate_order_zrn"),
           "test_gru_module": _m("gate_order_zrn"), "test_gradient_flow": "norm"}),
        P("unpack_zrn", "gru", "answer_unpack",
          (('zip("rzn", packed', 'zip("zrn", packed'), ('for gate in "rzn"', 'for gate in "zrn"')),
          {"test_unpack_pack": _m("gate_order_zrn")}),
        P("unpack_transposed", "gru", "answer_unpack",
          (("blocks[prefix + gate] = block", "blocks[prefix + gate] = block.T if block.dim() == 2 else block"),),
          {"test_unpack_pack": _m("unpack_transposed")}),
        P("bhn_outside", "gru", "answer_candidate",
          (("r * (h @ weight_hh[rows].T + bias_hh[rows])", "r * (h @ weight_hh[rows].T) + bias_hh[rows]"),),
          {"test_candidate_after": _m("bhn_outside"), "test_gru_cell": _m("bhn_outside"),
           "test_gru_layer": _m("bhn_outside"), "test_gru_module": _m("bhn_outside"),
           "test_gradient_flow": "norm"}),
        P("activations_swapped", "gru", "answer_gates",
          (("torch.sigmoid", "torch.tanh"),),
          {"test_reset_gate": _m("tanh_gate"), "test_update_gate": _m("tanh_gate"),
           "test_gru_cell": "", "test_gru_layer": "", "test_gru_module": "",
           "test_gradient_flow": ""}),
        P("activations_swapped_in_cell", "gru", "answer_gates",
          (("torch.sigmoid", "torch.tanh"),),
          {"test_reset_gate": _m("tanh_gate"), "test_update_gate": _m("tanh_gate"),
           "test_candidate_after": _m("sigmoid_candidate"),
           "test_candidate_before": _m("sigmoid_candidate"),
           "test_gru_cell": _m("activations_swapped"), "test_gru_layer": _m("activations_swapped"),
           "test_gru_module": _m("activations_swapped"), "test_gradient_flow": ""},
          (("answer_candidate", (("return torch.tanh(", "return torch.sigmoid("),)),)),
        P("chung_gru", "gru", "answer_candidate",
          (("r * (h @ weight_hh[rows].T + bias_hh[rows])", "(r * h) @ weight_hh[rows].T + bias_hh[rows]"),),
          {"test_candidate_after": _m("reset_before"), "test_new_state": _m("update_swapped"),
           "test_gru_cell": _m("before_and_swapped"), "test_gru_layer": _m("before_and_swapped"),
           "test_gru_module": _m("before_and_swapped"), "test_gradient_flow": ""},
          (("answer_cell", (("return (1 - z) * n + z * h", "return z * n + (1 - z) * h"),)),)),
        P("no_reset", "gru", "answer_candidate",
          (("r * (h @ weight_hh[rows].T + bias_hh[rows])", "(h @ weight_hh[rows].T + bias_hh[rows])"),),
          {"test_candidate_after": _m("no_reset"), "test_gru_cell": _m("no_reset"),
           "test_gru_layer": "", "test_gru_module": "", "test_gradient_flow": ""}),
        P("grad_of_reset_before", "gru", "answer_backward",
          (("n = torch.tanh(from_input[:, 2 * H:] + r * m)",
            "n = torch.tanh(from_input[:, 2 * H:] + (r * h) @ weight_hh[2 * H:].T + bias_hh[2 * H:])"),
           ("grad_a_r = grad_a_n * m * r * (1 - r)",
            "grad_a_r = (grad_a_n @ weight_hh[2 * H:]) * h * r * (1 - r)"),
           ("grad_state = torch.cat([grad_a_r, grad_a_z, grad_a_n * r], dim=1)",
            "grad_state = torch.cat([grad_a_r, grad_a_z, grad_a_n], dim=1)"),
           ("grad_h = grad_state @ weight_hh + grad_h_next * z",
            "grad_h = grad_state[:, :2 * H] @ weight_hh[:2 * H] + (grad_a_n @ weight_hh[2 * H:]) * r"
            " + grad_h_next * z"),
           ("grad_state.T @ h", "torch.cat([grad_state[:, :2 * H].T @ h, grad_a_n.T @ (r * h)])")),
          {"test_gru_backward": _m("grad_of_reset_before")}),
        P("sigmoid_candidate", "gru", "answer_candidate",
          (("return torch.tanh(", "return torch.sigmoid("),),
          {"test_candidate_after": _m("sigmoid_candidate"),
           "test_candidate_before": _m("sigmoid_candidate"), "test_gru_cell": "",
           "test_gru_layer": "", "test_gru_module": "", "test_gradient_flow": ""}),
        P("transposed", "gru", "answer_gates",
          (("h @ weight_hh[rows].T", "h @ weight_hh[rows]"),),
          {"test_reset_gate": _m("transposed"), "test_update_gate": _m("transposed"),
           "test_gru_cell": "", "test_gru_layer": "", "test_gru_module": "",
           "test_gradient_flow": ""}),
        P("wrong_shape", "gru", "answer_cell",
          (("return (1 - z) * n + z * h", "return ((1 - z) * n + z * h).T"),),
          {"test_new_state": "wrong shape of h_next", "test_gru_cell": "wrong shape of h_next",
           "test_gru_layer": "", "test_gru_module": "", "test_gradient_flow": ""}),
        P("in_place", "gru", "answer_cell",
          (("return new_state(z, n, h)", "return h.mul_(z).add_((1 - z) * n)"),),
          {"test_gru_cell": "modified its input(s) h in place", "test_gru_layer": "",
           "test_gru_module": "", "test_gradient_flow": ""}),
        P("h0_ignored", "gru", "answer_layer",
          (("h = x.new_zeros(x.shape[1], H) if h0 is None else h0", "h = x.new_zeros(x.shape[1], H)"),),
          {"test_gru_layer": _m("h0_ignored"), "test_gru_module": _m("h0_ignored")}),
        P("h_n_first", "gru", "answer_layer",
          (("return output, h", "return output, outputs[0]"),),
          {"test_gru_layer": _m("h_n_first"), "test_gru_module": _m("h_n_first")}),
        P("batch_first_ignored", "gru", "answer_layer",
          (("if batch_first:", "if False:"),),
          {"test_gru_layer": _m("batch_first_ignored"), "test_gru_module": ""}),
        P("module_names", "gru", "answer_module",
          (("self.weight_ih_l0 = ", "self.weight_ih = "), ("self.weight_ih_l0,", "self.weight_ih,")),
          {"test_gru_module": "must have exactly the parameters"}),
        P("grad_of_update_swapped", "gru", "answer_backward",
          (("grad_h_next * (1 - z) * (1 - n ** 2)", "grad_h_next * z * (1 - n ** 2)"),
           ("grad_h_next * (h - n)", "grad_h_next * (n - h)"),
           ("+ grad_h_next * z\n", "+ grad_h_next * (1 - z)\n")),
          {"test_gru_backward": _m("grad_of_update_swapped")}),
        P("grad_transposed", "gru", "answer_backward",
          (("grad_state.T @ h", "h.T @ grad_state"),),
          {"test_gru_backward": "wrong shape of grad_weight_hh"}),
        P("grad_blocks_transposed", "gru", "answer_backward",
          (("grad_state.T @ h", "torch.cat([h.T @ block for block in grad_state.chunk(3, dim=1)])"),),
          {"test_gru_backward": _m("grad_transposed")}),
        P("frobenius", "gru", "answer_gradient_flow",
          (("ord=2", 'ord="fro"'),), {"test_gradient_flow": _m("frobenius_norm")}),
        P("flow_bias_both", "gru", "answer_gradient_flow",
          (("keep_hh[6:12] = 0.0", "keep_hh[6:12] = 3.0"),), {"test_gradient_flow": _m("flow_bias_both")}),
        P("no_bias_hr", "gru", "answer_gates",
          ((RESET_GATE, RESET_GATE.replace(" + bias_hh[rows])", ")")),),
          {"test_reset_gate": _m("no_bias_hr"), "test_gru_cell": _m("no_bias_hr"),
           "test_gru_layer": _m("no_bias_hr"), "test_gru_module": _m("no_bias_hr"), "test_gradient_flow": ""}),
        P("no_recurrent_bias", "gru", "answer_gates",
          ((" + bias_hh[rows])", ")"),),
          {"test_reset_gate": _m("no_bias_hr"), "test_update_gate": _m("no_bias_hz"),
           "test_candidate_after": _m("no_bias_hn"), "test_gru_cell": _m("no_recurrent_bias"),
           "test_gru_layer": _m("no_recurrent_bias"), "test_gru_module": _m("no_recurrent_bias"),
           "test_gradient_flow": ""},
          (("answer_candidate", (("r * (h @ weight_hh[rows].T + bias_hh[rows])", "r * (h @ weight_hh[rows].T)"),)),)),
        P("reset_no_sigmoid", "gru", "answer_gates",
          ((RESET_GATE, RESET_GATE.replace("return torch.sigmoid(", "return (")),),
          {"test_reset_gate": _m("reset_no_sigmoid"), "test_gru_cell": _m("reset_no_sigmoid"),
           "test_gru_layer": _m("reset_no_sigmoid"), "test_gru_module": _m("reset_no_sigmoid"),
           "test_gradient_flow": ""}),
        P("update_no_sigmoid", "gru", "answer_gates",
          ((UPDATE_GATE, UPDATE_GATE.replace("return torch.sigmoid(", "return (")),),
          {"test_update_gate": _m("update_no_sigmoid"), "test_gru_cell": _m("update_no_sigmoid"),
           "test_gru_layer": _m("update_no_sigmoid"), "test_gru_module": _m("update_no_sigmoid"),
           "test_gradient_flow": ""}),
        P("backward_no_r", "gru", "answer_backward",
          (("grad_state = torch.cat([grad_a_r, grad_a_z, grad_a_n * r], dim=1)",
            "grad_state = torch.cat([grad_a_r, grad_a_z, grad_a_n], dim=1)"),),
          {"test_gru_backward": _m("backward_no_r")}),
        P("backward_no_direct_path", "gru", "answer_backward",
          (("grad_h = grad_state @ weight_hh + grad_h_next * z", "grad_h = grad_state @ weight_hh"),),
          {"test_gru_backward": _m("backward_no_direct_path")}),
        # bptt
        P("no_tanh_derivative", "bptt", "answer_backward",
          (("grad_a = (grad_hs[t] + carry) * (1 - hs[t] ** 2)", "grad_a = grad_hs[t] + carry"),),
          {"test_rnn_backward": _m("no_tanh_derivative")}),
        P("last_output_only", "bptt", "answer_backward",
          (("grad_a = (grad_hs[t] + carry)", "grad_a = ((grad_hs[t] if t == x.shape[0] - 1 else 0) + carry)"),),
          {"test_rnn_backward": _m("last_output_only")}),
        P("forward_transposed", "bptt", "answer_forward",
          (("h @ W_hh.T", "h @ W_hh"),),
          {"test_rnn_forward": _m("transposed"), "test_rnn_backward": "", "test_jacobian_product": ""}),
        P("one_step_jacobian", "bptt", "answer_jacobian",
          (("for t in reversed(range(x.shape[0])):", "for t in [x.shape[0] - 1]:"),),
          {"test_jacobian_product": _m("one_step_jacobian")}),
        P("jacobian_transposed", "bptt", "answer_jacobian",
          (("return jacobian", "return jacobian.transpose(1, 2)"),),
          {"test_jacobian_product": _m("transposed")}),
        P("clip_always", "bptt", "answer_clip",
          (("scale = min(1.0, max_norm / (float(total_norm) + 1e-6))",
            "scale = max_norm / (float(total_norm) + 1e-6)"),),
          {"test_clip": _m("clip_always")}),
        P("clip_per_tensor", "bptt", "answer_clip",
          (("return [g * scale for g in grads], total_norm",
            "return [g * min(1.0, max_norm / float(g.norm())) for g in grads], total_norm"),),
          {"test_clip": _m("clip_per_tensor")}),
        # lstm
        P("lstm_order_ifog", "lstm", "answer_cell",
          (("i, f, g, o = pre.chunk", "i, f, o, g = pre.chunk"),),
          {"test_lstm_cell": _m("lstm_order_ifog"), "test_lstm_layer": _m("lstm_order_ifog")}),
        P("lstm_no_tanh_c", "lstm", "answer_cell",
          (("torch.sigmoid(o) * torch.tanh(c_next)", "torch.sigmoid(o) * c_next"),),
          {"test_lstm_cell": _m("lstm_no_tanh_c"), "test_lstm_layer": _m("lstm_no_tanh_c")}),
        P("lstm_g_sigmoid", "lstm", "answer_cell",
          (("torch.sigmoid(i) * torch.tanh(g)", "torch.sigmoid(i) * torch.sigmoid(g)"),),
          {"test_lstm_cell": _m("lstm_g_sigmoid"), "test_lstm_layer": _m("lstm_g_sigmoid")}),
        P("lstm_h0_ignored", "lstm", "answer_layer",
          (("if h0 is None else h0", ""), ("if c0 is None else c0", "")),
          {"test_lstm_layer": _m("h0_ignored")}),
        P("forget_both", "lstm", "answer_forget",
          (("[H:2 * H] = 0.0", "[H:2 * H] = value"),), {"test_forget_bias": _m("forget_both")}),
        P("forget_wrong_slice", "lstm", "answer_forget",
          (("[H:2 * H]", "[0:H]"),), {"test_forget_bias": _m("forget_wrong_slice")}),
        P("forget_first_layer", "lstm", "answer_forget",
          (("for layer in range(lstm.num_layers):", "for layer in range(1):"),),
          {"test_forget_bias": _m("forget_first_layer_only")}),
        # lstm_kernel (runs Triton's interpreter: slower)
        P("kernel_order_ifog", "lstm_kernel", "answer_kernel",
          tuple(zip((_gate_load("g", 2), _gate_load("o", 3)), (_gate_load("g", 3), _gate_load("o", 2)))),
          {"test_lstm_pointwise": _m("lstm_order_ifog"), "test_lstm_saturation": ""}),
        P("kernel_order_iofg", "lstm_kernel", "answer_kernel",
          tuple(zip((_gate_load("f", 1), _gate_load("g", 2), _gate_load("o", 3)),
                    (_gate_load("f", 2), _gate_load("g", 3), _gate_load("o", 1)))),
          {"test_lstm_pointwise": _m("lstm_order_iofg"), "test_lstm_saturation": ""}),
        P("kernel_h_from_old_c", "lstm_kernel", "answer_kernel",
          (("stable_tanh(c_new)", "stable_tanh(c_old)"),),
          {"test_lstm_pointwise": _m("lstm_h_from_old_c"), "test_lstm_saturation": ""}),
        P("kernel_no_tanh_c", "lstm_kernel", "answer_kernel",
          (("stable_sigmoid(a_o) * stable_tanh(c_new)", "stable_sigmoid(a_o) * c_new"),),
          {"test_lstm_pointwise": _m("lstm_no_tanh_c"), "test_lstm_saturation": ""}),
        P("kernel_activations_swapped", "lstm_kernel", "answer_activations",  # the two bodies swapped
          (("def stable_sigmoid(x):", "def swapped(x):"), ("def stable_tanh(x):", "def stable_sigmoid(x):"),
           ("def swapped(x):", "def stable_tanh(x):")),
          {"test_lstm_pointwise": _m("lstm_activations_swapped"), "test_lstm_saturation": ""}),
        P("kernel_g_sigmoid", "lstm_kernel", "answer_kernel",
          (("stable_sigmoid(a_i) * stable_tanh(a_g)", "stable_sigmoid(a_i) * stable_sigmoid(a_g)"),),
          {"test_lstm_pointwise": _m("lstm_g_sigmoid"), "test_lstm_saturation": ""}),
        P("kernel_outputs_swapped", "lstm_kernel", "answer_wrapper",
          (("return h_next, c_next", "return c_next, h_next"),),
          {"test_lstm_pointwise": _m("lstm_outputs_swapped"), "test_lstm_saturation": ""}),
        P("kernel_strides_ignored", "lstm_kernel", "answer_wrapper",
          (("    gi, gh, c = gi.contiguous(), gh.contiguous(), c.contiguous()\n", ""),),
          {"test_lstm_pointwise": _m("strides_ignored"), "test_lstm_saturation": ""}),
        P("kernel_float32_inside", "lstm_kernel", "answer_kernel",  # the GPU chapter's cast, copied
          (("other=0.0)", "other=0.0).to(tl.float32)"),),
          {"test_lstm_pointwise": _m("float32_inside")}),
        P("kernel_in_place", "lstm_kernel", "answer_wrapper",
          (("h_next, c_next = torch.empty_like(c), torch.empty_like(c)", "h_next, c_next = torch.empty_like(c), c"),),
          {"test_lstm_pointwise": "modified its input(s) c in place",
           "test_lstm_saturation": "modified its input(s) c in place"}),
        P("kernel_naive_tanh", "lstm_kernel", "answer_activations",
          (("t = tl.exp(-2.0 * tl.abs(x))", "t = tl.exp(2.0 * x)"),
           ("magnitude = (1.0 - t) / (1.0 + t)", "magnitude = (t - 1.0) / (t + 1.0)"),
           ("return tl.where(x < 0, -magnitude, magnitude)", "return magnitude")),
          {"test_lstm_saturation": _m("nan_overflow")}),
        P("kernel_naive_sigmoid", "lstm_kernel", "answer_activations",
          (("t = tl.exp(-tl.abs(x))", "t = tl.exp(x)"),
           ("return tl.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))", "return t / (1.0 + t)")),
          {"test_lstm_saturation": _m("nan_overflow")}),
        P("kernel_not_jit", "lstm_kernel", "answer_kernel",
          (("@triton.jit\ndef lstm_pointwise_kernel", "def lstm_pointwise_kernel"),),
          {"test_lstm_pointwise": _m("not_triton"), "test_lstm_saturation": _m("not_triton")}),
        P("kernel_not_launched", "lstm_kernel", "answer_wrapper",  # PyTorch's tensor methods instead
          ((_LAUNCH, ""), ("return h_next, c_next", _TORCH_STEP)),
          {"test_lstm_pointwise": _m("kernel_not_launched"), "test_lstm_saturation": _m("kernel_not_launched")}),
        P("kernel_result_from_torch", "lstm_kernel", "answer_wrapper",  # launched, then overwritten
          (("return h_next, c_next", _TORCH_STEP),),
          {"test_lstm_pointwise": _m("computed_outside_kernel"),
           "test_lstm_saturation": _m("computed_outside_kernel")}),
    ]
