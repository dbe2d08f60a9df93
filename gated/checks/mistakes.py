"""The catalogue of named mistakes: each key names a known-wrong variant, each value is the
sentence the feedback gives when a student's output matches it (visible tests and grader alike).
The variants that compute them live with their assignment's checks."""

#: Every named mistake and the sentence the feedback gives for it.
MISTAKES: dict[str, str] = {
    "reset_before": "you applied the reset gate before the recurrent product, W_hn (r ⊙ h) + b_hn "
                    "(Cho et al. 2014 v3); with reset='after' (PyTorch) it multiplies the product: "
                    "r ⊙ (W_hn h + b_hn)",
    "reset_after": "you applied the reset gate after the recurrent product, r ⊙ (W_hn h + b_hn); "
                   "with reset='before' it multiplies the state first: W_hn (r ⊙ h) + b_hn",
    "update_swapped": "z and 1 − z are swapped: you wrote h' = z ⊙ n + (1 − z) ⊙ h; PyTorch (and "
                      "Cho et al.) keep the old state where z is near 1: h' = (1 − z) ⊙ n + z ⊙ h",
    "before_and_swapped": "you wrote the GRU of Chung et al. 2014: reset before the product and z, "
                          "1 − z swapped; PyTorch uses r ⊙ (W_hn h + b_hn) and h' = (1 − z) ⊙ n + z ⊙ h",
    "gate_order_zrn": "the gate rows are in the order z, r, n (Keras, ONNX); PyTorch packs them "
                      "r, z, n: rows [0:H] are the reset gate, [H:2H] the update gate, [2H:3H] the "
                      "candidate",
    "rows_of_z": "you took the update gate's rows [H:2H]; the reset gate's rows are [0:H] "
                 "(PyTorch packs r, z, n)",
    "rows_of_r": "you took the reset gate's rows [0:H]; the update gate's rows are [H:2H] "
                 "(PyTorch packs r, z, n)",
    "rows_of_n": "you took the candidate's rows [2H:3H]; a gate's rows are [0:H] (r) or [H:2H] (z)",
    "bhn_outside": "b_hn is outside the reset product: you wrote r ⊙ (W_hn h) + b_hn; in PyTorch's "
                   "GRU the reset gate multiplies the bias too: r ⊙ (W_hn h + b_hn)",
    "activations_swapped": "sigmoid and tanh are swapped: the gates r and z use the sigmoid σ, the "
                           "candidate n uses tanh",
    "tanh_gate": "you used tanh for a gate; gates use the sigmoid σ so that they lie in (0, 1)",
    "sigmoid_candidate": "you used the sigmoid for the candidate; the candidate uses tanh, in (−1, 1)",
    "transposed": "the weights are transposed: you multiplied by W where W^T is needed (PyTorch "
                  "stores weight_ih as (3H, I) and computes x @ W^T)",
    "no_reset": "the reset gate is missing from the candidate: n must contain r ⊙ (W_hn h + b_hn)",
    "no_bias_hr": "the recurrent bias b_hr is missing from the reset gate: PyTorch adds both biases, "
                  "r = σ(W_ir x + b_ir + W_hr h + b_hr), with b_hr = bias_hh[0:H]",
    "no_bias_hz": "the recurrent bias b_hz is missing from the update gate: PyTorch adds both biases, "
                  "z = σ(W_iz x + b_iz + W_hz h + b_hz), with b_hz = bias_hh[H:2H]",
    "no_bias_hn": "the recurrent bias b_hn is missing from the candidate: it sits inside the reset "
                  "product, r ⊙ (W_hn h + b_hn), with b_hn = bias_hh[2H:3H]",
    "no_recurrent_bias": "the recurrent biases bias_hh are missing from every gate: PyTorch keeps two "
                         "biases, and each gate adds both (b_ir + b_hr, b_iz + b_hz, and b_in outside "
                         "with b_hn inside the reset product)",
    "reset_no_sigmoid": "the reset gate has no sigmoid: r = σ(W_ir x + b_ir + W_hr h + b_hr), a gate "
                        "in (0, 1), not the raw pre-activation",
    "update_no_sigmoid": "the update gate has no sigmoid: z = σ(W_iz x + b_iz + W_hz h + b_hz), a gate "
                         "in (0, 1), not the raw pre-activation",
    # layers
    "h0_ignored": "the initial state h0 was ignored: your layer started from zeros",
    "h_n_first": "h_n is the state after the first step; it must be the state after the last step",
    "batch_first_ignored": "batch_first=True was ignored: the input is (B, T, I) and the output must "
                           "be (B, T, H); transpose to time-major, run, and transpose back",
    # unpack / pack
    "unpack_transposed": "your blocks are transposed: W_ir must keep PyTorch's (H, I) layout, not (I, H)",
    # backward
    "grad_of_reset_before": "your gradients are those of the GRU with the reset gate before the "
                            "product, W_hn (r ⊙ h); differentiate n = tanh(.. + r ⊙ (W_hn h + b_hn))",
    "grad_of_update_swapped": "your gradients are those of h' = z ⊙ n + (1 − z) ⊙ h (z and 1 − z "
                              "swapped); PyTorch's new state is h' = (1 − z) ⊙ n + z ⊙ h",
    "grad_transposed": "your weight gradients are transposed: dL/dW has W's shape (3H, I) and equals "
                       "dA^T @ x for pre-activations A = x @ W^T",
    "backward_no_r": "the candidate's recurrent path is missing r: a_n contains r ⊙ (W_hn h + b_hn), so "
                     "the gradient reaching W_hn h + b_hn (and from there W_hn, b_hn and h) is "
                     "dL/da_n ⊙ r, not dL/da_n",
    "backward_no_direct_path": "the direct path from h' to h is missing: h' = (1 − z) ⊙ n + z ⊙ h, so "
                               "dL/dh gets g ⊙ z besides what flows back through the gates and the "
                               "candidate",
    # gradient flow / bptt
    "frobenius_norm": "you gave the Frobenius norm; the question asks for the spectral norm "
                      "(largest singular value, torch.linalg.matrix_norm(J, ord=2))",
    "one_step_jacobian": "you gave the norm of one step's Jacobian dh_T/dh_(T-1), not of the product "
                         "dh_T/dh_0 over all T steps",
    "answers_swapped": "your two answers are swapped",
    "flow_bias_both": "you set the update gate's bias in both biases: PyTorch adds bias_ih and bias_hh, "
                      "so z saw a bias of 6, not 3; set bias_ih[H:2H] = 3 and bias_hh[H:2H] = 0",
    "no_tanh_derivative": "the tanh derivative 1 − h_t² is missing from the backward step",
    "last_output_only": "only the gradient reaching the last state was used; every h_t receives "
                        "dL/dh_t from the loss as well as from h_(t+1)",
    "clip_always": "you rescaled the gradients although their norm is below max_norm; clip only "
                   "when the total norm exceeds max_norm",
    "clip_per_tensor": "you clipped each tensor by its own norm; global clipping scales every "
                       "tensor by the same factor max_norm / total_norm, total over all tensors",
    # lstm
    "lstm_order_ifog": "the gate blocks are in the order i, f, o, g (CS231n); nn.LSTM packs i, f, g, o "
                       "(the rows of its weights, the columns of the pre-activations)",
    "lstm_no_tanh_c": "h' = o ⊙ c' is missing the tanh: h' = o ⊙ tanh(c')",
    "lstm_g_sigmoid": "the cell input g uses the sigmoid; it uses tanh (i, f, o use σ)",
    "forget_both": "you set the forget bias in both bias_ih and bias_hh: PyTorch adds the two, so "
                   "the effective forget bias is twice the value; set one and zero the other",
    "forget_wrong_slice": "you changed the wrong slice: the forget gate's rows are [H:2H] "
                          "(nn.LSTM packs i, f, g, o)",
    "forget_first_layer_only": "only the first layer's forget bias was set; set it in every "
                               "layer (bias_ih_l0, bias_ih_l1, ...)",
    # lstm_kernel
    "lstm_order_iofg": "the gate blocks are in ONNX's order i, o, f, g (ONNX writes iofc); nn.LSTM "
                       "packs i, f, g, o: columns [0:H] i, [H:2H] f, [2H:3H] g, [3H:4H] o",
    "lstm_h_from_old_c": "h' used tanh of the old cell state c; it uses the new one: first "
                         "c' = f ⊙ c + i ⊙ g, then h' = o ⊙ tanh(c')",
    "lstm_activations_swapped": "sigmoid and tanh are swapped: the gates i, f, o use σ; the cell "
                                "input g and the output's tanh(c') use tanh",
    "lstm_outputs_swapped": "h' and c' are swapped: return (h', c'), in that order",
    "strides_ignored": "the inputs were not contiguous and your kernel read them as if they were "
                       "(columns side by side): call .contiguous() on gi, gh and c in the wrapper, "
                       "or pass and use their column strides too",
    "float32_inside": "your float64 results are only as close as float32 allows: compute in the "
                      "inputs' dtype (no .to(tl.float32), no float32 outputs)",
    "nan_overflow": "your output has NaN or inf where the pre-activations are large: e^x overflows "
                    "in (e^{2x} − 1)/(e^{2x} + 1) and in e^x/(1 + e^x); build tanh from e^{−2|x|} "
                    "and σ from e^{−|x|}, both in (0, 1], and put the sign back with tl.where",
    "not_triton": "lstm_pointwise_kernel is not a Triton kernel: decorate it with @triton.jit and "
                  "launch it from lstm_pointwise",
    "kernel_not_launched": "lstm_pointwise never launched lstm_pointwise_kernel: launch it, as "
                           "lstm_pointwise_kernel[grid](...), and return what it wrote",
    "computed_outside_kernel": "lstm_pointwise returns the same h' and c' when lstm_pointwise_kernel "
                               "does nothing: they are computed outside the kernel; the kernel "
                               "must compute and write them",
}
