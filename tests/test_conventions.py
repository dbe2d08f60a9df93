"""The conventions table agrees with the reference cell and with PyTorch itself."""
from __future__ import annotations

import torch

from gated import cells, conventions


def test_pytorch_gru_convention_found_by_experiment_is_reset_after_keep_old_rzn():
    found = conventions.detect_pytorch_gru()
    assert found == {"reset": "after", "update": "keep_old", "gate_order": ("r", "z", "n")}


def test_table_row_for_pytorch_agrees_with_the_experiment():
    row = next(r for r in conventions.GRU_CONVENTIONS if r.source.startswith("PyTorch"))
    found = conventions.detect_pytorch_gru()
    assert (row.reset, row.update, row.gate_order) == (found["reset"], found["update"], found["gate_order"])


def test_lstm_gate_order_of_pytorch_found_by_experiment():
    assert conventions.probe_lstm_gate_order() == conventions.LSTM_GATE_ORDERS["PyTorch nn.LSTM"]
    assert conventions.probe_lstm_gate_order() == cells.GATE_ORDER["lstm"]


def test_every_row_names_a_convention_the_reference_cell_computes():
    torch.manual_seed(0)
    module = torch.nn.GRU(2, 3, dtype=torch.float64)
    x, h = torch.randn(1, 2, dtype=torch.float64), torch.randn(1, 3, dtype=torch.float64)
    params = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)
    for row in conventions.GRU_CONVENTIONS:
        out = cells.gru_cell(x, h, *params, reset=row.reset, update=row.update)
        assert torch.isfinite(out).all()
        assert row.candidate == conventions.candidate_formula(row.reset)
        assert row.new_state == conventions.update_formula(row.update)
        assert row.gate_order in ((), ("r", "z", "n"), ("z", "r", "n"))


def test_the_four_conventions_are_four_different_functions():
    torch.manual_seed(1)
    module = torch.nn.GRU(3, 8, dtype=torch.float64)
    x = torch.randn(10, 2, 3, dtype=torch.float64)
    outs = {
        (reset, update): cells.gru(x, module.state_dict(), reset=reset, update=update)[1]
        for reset in ("after", "before")
        for update in ("keep_old", "keep_new")
    }
    keys = list(outs)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert (outs[a] - outs[b]).abs().max() > 1e-3, (a, b)


def test_the_two_versions_of_cho_et_al_differ_only_in_where_the_reset_gate_acts():
    v1, v3 = (next(r for r in conventions.GRU_CONVENTIONS if r.source.startswith(f"Cho et al. 2014 ({tag}"))
              for tag in ("arXiv v1", "EMNLP"))
    assert (v1.reset, v3.reset) == ("after", "before") and v1.update == v3.update == "keep_old"
    assert v1.cite == v3.cite == "cho2014learning"
