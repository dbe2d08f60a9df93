"""The text chapter's library: corpus, encoding, baselines, TBPTT training, sampling, units, packing."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from gated import text


@pytest.fixture(scope="module")
def vocab() -> text.Vocabulary:
    return text.Vocabulary()


# ------------------------------------------------------------------------------------- corpus

def test_corpus_is_the_same_on_every_load():
    first, second = text.load_corpus(), text.load_corpus()
    assert first.sha256() == second.sha256()
    assert [first[s].modules for s in text.SPLITS] == [tuple(m) for m in text.SPLITS.values()]


def test_splits_hold_disjoint_files_read_from_the_stdlib():
    corpus = text.load_corpus()
    modules = [m for s in text.SPLITS for m in corpus[s].modules]
    assert len(modules) == len(set(modules))
    assert corpus["test"].texts[0] == (text.stdlib_dir() / f"{text.TEST_MODULES[0]}.py").read_text(encoding="utf-8")
    assert all(corpus[s].characters > 100_000 for s in ("validation", "test"))


def test_a_module_in_two_splits_is_refused():
    with pytest.raises(ValueError, match="'heapq' is in both"):
        text.load_corpus({"train": ("heapq",), "test": ("heapq",)})


def test_a_missing_module_names_itself():
    with pytest.raises(FileNotFoundError, match="no_such_module"):
        text.stdlib_source("no_such_module")


def test_the_fingerprint_changes_with_the_split():
    a = text.load_corpus({"train": ("heapq",), "test": ("bisect",)})
    b = text.load_corpus({"train": ("bisect",), "test": ("heapq",)})
    assert a.sha256() != b.sha256()


# ----------------------------------------------------------------------------------- encoding

def test_encode_decode_round_trips_python_source(vocab):
    source = text.stdlib_source("bisect")
    assert source.isascii() and vocab.decode(vocab.encode(source)) == source
    every = "".join(vocab.chars[:-1])
    assert vocab.decode(vocab.encode(every)) == every


def test_characters_outside_the_vocabulary_become_the_unknown_symbol(vocab):
    ids = vocab.encode("é\tx")
    assert ids.tolist()[:2] == [vocab.unknown, vocab.unknown]
    assert vocab.decode(ids) == text.UNKNOWN * 2 + "x"
    assert len(vocab) == 97


def test_decoding_an_id_outside_the_vocabulary_is_an_error(vocab):
    with pytest.raises(ValueError, match=r"\[0, 97\)"):
        vocab.decode([3, 97])


# ---------------------------------------------------------------------------------- baselines

def test_a_uniform_model_scores_log2_of_the_vocabulary(vocab):
    targets = vocab.encode("def f(x):\n    return x\n")
    logits = torch.zeros(len(targets), len(vocab))
    assert text.bits_per_character(logits, targets) == pytest.approx(math.log2(len(vocab)), rel=1e-6)


def test_bigram_bits_match_a_count_by_hand():
    train, test = torch.tensor([0, 1, 0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])
    counts = {(0, 1): 2, (1, 0): 1, (1, 1): 1, (1, 2): 1}
    context = {0: 2, 1: 3, 2: 0}
    alpha, size = 0.5, 3
    by_hand = -np.mean([math.log2((counts.get((a, b), 0) + alpha) / (context[a] + alpha * size))
                        for a, b in [(0, 1), (1, 2), (2, 2)]])
    assert text.ngram_bits(train, test, 2, size, alpha) == pytest.approx(by_hand)


def test_a_unigram_model_with_a_huge_prior_is_uniform():
    train, test = torch.tensor([0, 0, 0, 1]), torch.tensor([2, 3, 1])
    assert text.ngram_bits(train, test, 1, 5, alpha=1e9) == pytest.approx(math.log2(5), rel=1e-6)


def test_a_higher_order_model_fits_repetitive_text_better():
    ids = torch.tensor([0, 1, 2, 3] * 50)
    assert text.ngram_bits(ids, ids, 2, 4, 0.01) < 0.05 < text.ngram_bits(ids, ids, 1, 4, 0.01)


def test_ngram_refuses_a_zero_prior():
    with pytest.raises(ValueError, match="alpha"):
        text.ngram_bits(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 2, alpha=0)


# ------------------------------------------------------------------------------------- models

@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_parameter_count_matches_the_module(cell, layers):
    model = text.CharModel(cell, 97, 40, embedding_size=16, num_layers=layers)
    assert sum(p.numel() for p in model.parameters()) == text.parameter_count(cell, 97, 40, 16, layers)


def test_the_matched_gru_is_within_two_percent_of_the_lstm():
    budget = text.parameter_count("lstm", 97, 128)
    hidden = text.matched_hidden_size("gru", budget, 97)
    assert abs(text.parameter_count("gru", 97, hidden) - budget) / budget < 0.02
    assert hidden > 128


def test_models_with_the_same_seed_are_equal_and_leave_the_global_generator_alone():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a, b = text.CharModel("gru", 97, 8, seed=3), text.CharModel("gru", 97, 8, seed=3)
    assert torch.rand(1) == before
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# ------------------------------------------------------------------------------------ batches

def test_stream_targets_are_the_next_character_and_streams_are_contiguous():
    ids = torch.arange(1003)
    x, y = text.stream_batches(ids, batch_size=4, seq_len=50)
    assert x.shape == (4, 250)
    assert torch.equal(y, x + 1)
    assert torch.equal(x[:, 1:] - x[:, :-1], torch.ones(4, 249, dtype=torch.int64))
    assert x[1, 0] == 250


def test_too_short_a_text_for_the_streams_is_an_error():
    with pytest.raises(ValueError, match="do not fill"):
        text.stream_batches(torch.arange(50), batch_size=4, seq_len=20)


def test_detach_state_cuts_the_graph_of_both_lstm_states():
    h = torch.ones(1, requires_grad=True) * 2
    h_detached, c_detached = text.detach_state((h, h * 3))
    assert not h_detached.requires_grad and not c_detached.requires_grad


def test_a_short_training_run_lowers_the_held_out_loss(vocab):
    ids = vocab.encode(text.stdlib_source("bisect") * 2)
    model = text.CharModel("lstm", len(vocab), 32, embedding_size=8, seed=0)
    before = text.evaluate_bits(model, ids, batch_size=4, seq_len=50)
    history = text.train_language_model(model, ids, steps=60, batch_size=8, seq_len=50, lr=1e-2)
    after = text.evaluate_bits(model, ids, batch_size=4, seq_len=50)
    assert after < before - 1.5
    assert np.mean(history.loss[-10:]) < np.mean(history.loss[:10]) - 1.5


def test_carrying_the_state_changes_training(vocab):
    ids = vocab.encode(text.stdlib_source("bisect"))
    runs = []
    for carry in (True, False):
        model = text.CharModel("gru", len(vocab), 16, embedding_size=8, seed=1)
        runs.append(text.train_language_model(model, ids, steps=6, batch_size=4, seq_len=20,
                                              carry_state=carry).loss)
    assert runs[0][0] == runs[1][0]       # the first chunk starts from zero either way
    assert runs[0][1:] != runs[1][1:]


def test_evaluation_with_carried_state_differs_from_reset_state(vocab):
    ids = vocab.encode(text.stdlib_source("bisect"))
    model = text.CharModel("lstm", len(vocab), 16, embedding_size=8, seed=2)
    assert text.evaluate_bits(model, ids, 4, 20, True) != text.evaluate_bits(model, ids, 4, 20, False)


# ------------------------------------------------------------------------------------ sampling

@pytest.fixture(scope="module")
def trained(vocab) -> text.CharModel:
    ids = vocab.encode(text.stdlib_source("bisect"))
    model = text.CharModel("gru", len(vocab), 32, embedding_size=8, seed=0)
    text.train_language_model(model, ids, steps=40, batch_size=8, seq_len=40, lr=1e-2)
    return model


def _greedy_by_hand(model, vocab, prompt, length):
    ids = vocab.encode(prompt).tolist()
    with torch.no_grad():
        for _ in range(length):
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    return vocab.decode(ids[len(prompt):])


def test_temperature_zero_is_greedy_decoding(trained, vocab):
    assert text.sample(trained, vocab, "def ", 40, 0.0) == _greedy_by_hand(trained, vocab, "def ", 40)


def test_a_tiny_temperature_approaches_greedy_decoding(trained, vocab):
    assert text.sample(trained, vocab, "def ", 40, 1e-4, seed=3) == text.sample(trained, vocab, "def ", 40, 0.0)


def test_sampling_is_seeded_and_a_high_temperature_varies(trained, vocab):
    a = text.sample(trained, vocab, "x", 60, 1.5, seed=1)
    assert a == text.sample(trained, vocab, "x", 60, 1.5, seed=1)
    assert a != text.sample(trained, vocab, "x", 60, 1.5, seed=2)


def test_a_negative_temperature_is_refused(trained, vocab):
    with pytest.raises(ValueError, match="temperature"):
        text.sample(trained, vocab, "x", 5, -1.0)


def test_each_setting_of_the_sample_explorer_shows_its_own_sample_through_the_jslinks():
    import ipywidgets as widgets
    from ipywidgets.widgets.widget import _instances
    from ipywidgets.widgets.widget_link import Link

    names, temperatures = ("GRU", "LSTM"), (0.0, 0.5, 1.0)
    box = text.sample_explorer({(m, t): f"{m} at {t} <b>" for m in names for t in temperatures})
    model, temperature, top = box.children[:3]
    links = [w for w in list(_instances.values()) if isinstance(w, Link) and w.source[0] in (model, temperature)]
    assert all(link.source[1] == "index" and link.target[1] == "selected_index" for link in links)
    driver = {id(link.target[0]): link.source[0] for link in links}
    for m, t in itertools.product(range(len(names)), range(len(temperatures))):
        index = {id(model): m, id(temperature): t}
        node = top
        while isinstance(node, widgets.Stack):    # only the links decide which child shows
            node = node.children[index[id(driver[id(node)])]]
        assert f"{names[m]} at {temperatures[t]} &lt;b&gt;" in node.value


def test_the_sample_explorer_needs_every_sample():
    with pytest.raises(ValueError, match="missing"):
        text.sample_explorer({("GRU", 0.5): "a", ("LSTM", 1.0): "b"})


# ------------------------------------------------------------------------------- units, features

def test_source_features_mark_strings_comments_brackets_and_indentation():
    source = 'x = f(1, "a(b")  # c\nif x:\n    y = [\n        2]\n'
    features = text.source_features(source)
    marked = lambda name: "".join(c for c, f in zip(source, features[name]) if f)  # noqa: E731
    assert marked("inside a string") == '"a(b"'
    assert marked("inside a comment") == "# c"
    assert marked("inside brackets") == '1, "a(b"' + "\n        2"
    assert features["indentation"][source.index("y")] == 4
    assert features["indentation"][source.index("2")] == 8


def test_a_multi_line_string_is_inside_a_string_on_every_line():
    source = 'def f():\n    """Doc\n    more."""\n    return 1\n'
    inside = text.source_features(source)["inside a string"]
    assert inside[source.index("more")] == 1 and inside[source.index("return")] == 0


def test_source_that_does_not_tokenize_is_a_clear_error():
    with pytest.raises(ValueError, match="does not tokenize"):
        text.source_features('x = """never closed\n')


def test_best_units_find_a_planted_unit_and_measure_it_again_on_test():
    rng = np.random.default_rng(0)
    n = 2000
    features = {name: rng.integers(0, 2, n).astype(float) for name in text.FEATURES}
    h = rng.normal(size=(n, 6))
    h[:, 4] = -features["inside a string"] + 0.3 * rng.normal(size=n)
    test_features = {name: rng.integers(0, 2, n).astype(float) for name in text.FEATURES}
    h_test = rng.normal(size=(n, 6))
    units = {u.feature: u for u in text.best_units({"h": h}, features, {"h": h_test}, test_features)}
    found = units["inside a string"]
    assert (found.state, found.unit) == ("h", 4) and found.found_r < -0.8
    assert abs(found.test_r) < 0.1       # on unrelated test data the correlation is not carried over


def test_state_trace_h_equals_the_module_outputs(vocab):
    model = text.CharModel("lstm", len(vocab), 12, embedding_size=8, seed=4)
    ids = vocab.encode(text.stdlib_source("bisect")[:400])
    trace = text.state_trace(model, ids, streams=4)
    with torch.no_grad():
        outputs, _ = model.rnn(model.embedding(ids.view(4, 100)))
    np.testing.assert_allclose(trace["h"], outputs.reshape(400, 12).numpy(), atol=1e-6)
    assert trace["c"].shape == (400, 12)


def test_colored_text_escapes_and_needs_one_value_per_character():
    html = text.colored_text("<a>", np.array([1.0, -1.0, 0.0]))
    assert "&lt;" in html and "rgb(255,102,102)" in html and "rgb(102,102,255)" in html and "rgb(255,255,255)" in html
    with pytest.raises(ValueError, match="one value per character"):
        text.colored_text("ab", np.array([1.0]))


# ------------------------------------------------------------------------------------ packing

@pytest.mark.parametrize("module", [nn.LSTM, nn.GRU])
def test_the_packed_run_gives_each_sequence_its_own_final_state(module):
    torch.manual_seed(0)
    rnn = module(5, 7, num_layers=2, batch_first=True).double()
    sequences = [torch.randn(n, 5, dtype=torch.float64) for n in (3, 9, 1, 6)]
    packed = text.packed_final_states(rnn, sequences)
    alone = text.final_states_one_by_one(rnn, sequences)
    for p, a in zip(packed if isinstance(packed, tuple) else (packed,), alone if isinstance(alone, tuple) else (alone,)):
        torch.testing.assert_close(p, a, rtol=0, atol=1e-12)


def test_without_packing_the_padding_changes_the_final_state():
    torch.manual_seed(0)
    rnn = nn.GRU(5, 7, batch_first=True).double()
    sequences = [torch.randn(n, 5, dtype=torch.float64) for n in (3, 9)]
    _, padded_state = rnn(nn.utils.rnn.pad_sequence(sequences, batch_first=True))
    alone = text.final_states_one_by_one(rnn, sequences)
    assert (padded_state[:, 0] - alone[:, 0]).abs().max() > 1e-3   # the short one ran over 6 pads
    torch.testing.assert_close(padded_state[:, 1], alone[:, 1])


def test_bits_by_position_average_to_the_bits_per_character(vocab):
    ids = vocab.encode(text.stdlib_source("bisect"))
    model = text.CharModel("gru", len(vocab), 16, embedding_size=8, seed=2)
    by_position = text.bits_by_position(model, ids, 4, 20, carry_state=False)
    assert by_position.shape == (20,)
    assert by_position.mean() == pytest.approx(text.evaluate_bits(model, ids, 4, 20, carry_state=False), rel=1e-5)


def test_correlations_match_numpy_and_a_constant_unit_scores_zero():
    rng = np.random.default_rng(1)
    activations = rng.normal(size=(3000, 70)).astype(np.float32)
    activations[:, 5] = 0.25
    feature = rng.normal(size=3000) + activations[:, 3]
    r = text.correlations(activations, feature)
    expected = [np.corrcoef(activations[:, k], feature)[0, 1] if k != 5 else 0.0 for k in range(70)]
    np.testing.assert_allclose(r, expected, atol=1e-12)
