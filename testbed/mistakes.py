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
        # gru_kernel (runs Triton's interpreter: slower)
        P("kernel_update_swapped", "gru_kernel", "answer_kernel",
          (("(1.0 - z) * n + z * h", "z * n + (1.0 - z) * h"),),
          {"test_pointwise_kernel": _m("update_swapped"), "test_kernel_saturation": ""}),
        P("kernel_naive_tanh", "gru_kernel", "answer_kernel",
          (("e = tl.exp(-2.0 * tl.abs(a_n))", "e = tl.exp(2.0 * a_n)"),
           ("n = tl.where(a_n >= 0, (1.0 - e) / (1.0 + e), -(1.0 - e) / (1.0 + e))",
            "n = (e - 1.0) / (e + 1.0)")),
          {"test_kernel_saturation": _m("nan_overflow")}),
    ]
