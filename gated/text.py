"""Character-level language models on Python's own standard library, for the chapter *Gated RNNs on text*.

The pieces, in the order the chapter uses them:

* **Corpus.** :func:`load_corpus` reads the source files of a fixed list of standard-library modules
  from the running interpreter's install (``sysconfig.get_paths()["stdlib"]``): nothing is downloaded.
  The split is by file: :data:`SPLITS` names the modules of each split, so validation and test text
  come from files the model never trained on.
* **Encoding.** :class:`Vocabulary` maps characters to integers: newline, the 95 printable ASCII
  characters, and one index for anything else (shown as ``"\\ufffd"``).
* **Baselines.** :func:`ngram_bits`: the bits per character of an add-alpha smoothed n-gram model
  (n = 1: unigram, n = 2: bigram, ...), fitted on the training text.
* **Model.** :class:`CharModel`: an embedding, ``nn.LSTM`` or ``nn.GRU`` (``num_layers`` stacked,
  batch first), and a linear read-out to the vocabulary. :func:`matched_hidden_size` sizes a GRU to
  the parameter count of an LSTM (whole model, embedding and read-out included).
* **Training.** :func:`train_language_model` runs truncated backpropagation through time over
  :func:`stream_batches`: the text is cut into ``batch_size`` contiguous streams and read in chunks of
  ``seq_len`` characters; with ``carry_state=True`` the state at the end of one chunk, detached from
  the graph, starts the next. It cannot reuse :func:`gated.training.train`, which draws independent
  batches and starts every sequence from zero; it does reuse its :class:`~gated.training.History` and
  its one-thread rule.
* **Evaluation.** :func:`evaluate_bits`: bits per character over a whole held-out text, with the state
  carried or reset every chunk; :func:`bits_by_position`: the same, per position in the chunk.
* **Sampling.** :func:`sample`: characters drawn from softmax(logits / temperature); temperature 0 is
  the greedy limit (argmax). :func:`sample_explorer` puts precomputed samples behind controls linked in
  the browser, so it works on the static site.
* **Interpretable units.** :func:`source_features` computes per-character features of Python source
  with the standard library's :mod:`tokenize` (inside brackets, a string or a comment; indentation); :func:`state_trace` records every unit's state at every character; :func:`best_units` finds,
  for each feature, the unit whose activation correlates best with it; :func:`colored_text` shows a
  unit's activation on a snippet.
* **Packing.** :func:`packed_final_states` runs a batch of sequences of different lengths through
  ``pack_padded_sequence``; :func:`final_states_one_by_one` runs them alone, for comparison.

Shapes: B batch (streams), T time (characters), V vocabulary, H hidden size, L layers.
"""
from __future__ import annotations

import hashlib
import html
import io
import math
import sys
import sysconfig
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import ipywidgets as widgets
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from gated import cells
from gated.training import History, torch_threads

# The modules of each split: pure-Python standard-library modules present in CPython 3.10 to 3.13,
# each read from <stdlib>/<name>.py. The validation and test files are never trained on.
TRAIN_MODULES = (
    "argparse", "ast", "base64", "bdb", "bisect", "bz2", "cmd", "code", "codecs", "colorsys",
    "compileall", "contextlib", "copy", "csv", "dataclasses", "datetime", "difflib", "dis",
    "doctest", "enum", "filecmp", "fileinput", "fnmatch", "ftplib", "functools", "getopt",
    "gettext", "glob", "graphlib", "gzip", "hashlib", "hmac", "imaplib", "inspect", "ipaddress",
    "locale", "lzma", "mailbox", "mimetypes", "netrc", "numbers", "operator", "optparse", "os",
    "pdb", "pickle", "platform", "plistlib", "poplib", "posixpath", "profile", "pstats", "pyclbr",
)
VALIDATION_MODULES = ("calendar", "configparser", "pprint", "shlex", "textwrap")
TEST_MODULES = ("fractions", "heapq", "queue", "statistics", "tempfile", "traceback")
SPLITS = {"train": TRAIN_MODULES, "validation": VALIDATION_MODULES, "test": TEST_MODULES}


def stdlib_dir() -> Path:
    """The running interpreter's standard-library folder."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_source(module: str) -> str:
    """The source text of the standard-library module ``module`` (``<stdlib>/<module>.py``)."""
    path = stdlib_dir() / f"{module}.py"
    if not path.is_file():
        raise FileNotFoundError(f"module {module!r} has no source file {path} in this Python "
                                f"({sys.version.split()[0]}); the corpus needs CPython 3.10 to 3.13")
    text = path.read_text(encoding="utf-8")
    return text if text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class Split:
    """The files of one split and their text, concatenated in the order of ``modules``."""

    modules: tuple[str, ...]
    texts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(self.texts)

    @property
    def characters(self) -> int:
        return sum(len(t) for t in self.texts)


@dataclass(frozen=True)
class Corpus:
    """The three splits, and where they came from."""

    splits: dict[str, Split]
    python: str
    stdlib: str

    def __getitem__(self, name: str) -> Split:
        return self.splits[name]

    def sha256(self) -> str:
        """A fingerprint of all three splits: equal fingerprints, equal corpora."""
        digest = hashlib.sha256()
        for name, split in self.splits.items():
            for module, text in zip(split.modules, split.texts):
                digest.update(f"{name}/{module}\0{text}\0".encode())
        return digest.hexdigest()


def load_corpus(splits: dict[str, tuple[str, ...]] | None = None) -> Corpus:
    """Read the modules of each split (default :data:`SPLITS`) from this interpreter's standard library."""
    splits = splits or SPLITS
    seen: dict[str, str] = {}
    for name, modules in splits.items():
        for module in modules:
            if module in seen:
                raise ValueError(f"module {module!r} is in both the {seen[module]} and the {name} split")
            seen[module] = name
    return Corpus(splits={name: Split(tuple(modules), tuple(stdlib_source(m) for m in modules))
                          for name, modules in splits.items()},
                  python=sys.version.split()[0], stdlib=str(stdlib_dir()))


# ------------------------------------------------------------------------------------ encoding

UNKNOWN = "\ufffd"


class Vocabulary:
    """Characters <-> integers: newline, printable ASCII (space to ``~``), then one unknown index."""

    def __init__(self) -> None:
        self.chars = "\n" + "".join(chr(c) for c in range(32, 127)) + UNKNOWN
        self.unknown = len(self.chars) - 1
        self._index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> Tensor:
        """text -> (len(text),) int64; characters outside the vocabulary get :attr:`unknown`."""
        return torch.tensor([self._index.get(c, self.unknown) for c in text], dtype=torch.int64)

    def decode(self, ids: Tensor | list[int]) -> str:
        """(N,) integers -> text (the unknown index decodes to ``"\\ufffd"``)."""
        values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if any(not 0 <= i < len(self.chars) for i in values):
            raise ValueError(f"ids must lie in [0, {len(self.chars)}), got min {min(values)}, max {max(values)}")
        return "".join(self.chars[i] for i in values)


# ----------------------------------------------------------------------------------- baselines

def bits_per_character(logits: Tensor, targets: Tensor) -> float:
    """Mean cross-entropy in bits of logits (..., V) against targets (...)."""
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return loss.item() / math.log(2)


def ngram_bits(train: Tensor, test: Tensor, order: int, vocab_size: int, alpha: float = 1.0) -> float:
    """Bits per character on ``test`` of an add-``alpha`` n-gram model fitted on ``train`` (1-D ids).

    P(c | the previous ``order - 1`` characters) = (count(context, c) + alpha) / (count(context) +
    alpha · V): ``order`` 1 is the unigram model, 2 the bigram model. The first ``order - 1`` test
    characters, which have no full context, are not scored.
    """
    if order < 1 or vocab_size ** order >= 2 ** 62:
        raise ValueError(f"order must be at least 1 and V^order must fit in int64, got order {order}, V {vocab_size}")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive (a zero count would give infinite bits), got {alpha}")
    train_context, train_gram = _ngram_keys(train.numpy(), order, vocab_size)
    test_context, test_gram = _ngram_keys(test.numpy(), order, vocab_size)
    gram_counts = _counts_of(train_gram, test_gram)
    context_counts = _counts_of(train_context, test_context)
    probability = (gram_counts + alpha) / (context_counts + alpha * vocab_size)
    return float(-np.log2(probability).mean())


def _ngram_keys(ids: np.ndarray, order: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One integer per position ``t >= order - 1`` for its context and for its whole n-gram."""
    if len(ids) < order:
        raise ValueError(f"need at least {order} characters for an order-{order} model, got {len(ids)}")
    count = len(ids) - order + 1
    context = np.zeros(count, dtype=np.int64)
    for k in range(order - 1):
        context = context * vocab_size + ids[k:k + count]
    return context, context * vocab_size + ids[order - 1:]


def _counts_of(train_keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """How often each query key occurs among ``train_keys`` (0 for unseen keys)."""
    keys, counts = np.unique(train_keys, return_counts=True)
    where = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[where] == query, counts[where], 0).astype(np.float64)


# --------------------------------------------------------------------------------------- model

class CharModel(nn.Module):
    """Embedding, a stacked ``nn.LSTM`` or ``nn.GRU`` (batch first), and a read-out to the vocabulary.

    ids (B, T) and a state (or None) -> logits (B, T, V) and the state at the end: ``h`` (L, B, H) for
    the GRU, ``(h, c)`` for the LSTM. Parameters are drawn with ``torch.manual_seed(seed)`` without
    touching the global random state.
    """

    def __init__(self, cell: str, vocab_size: int, hidden_size: int, embedding_size: int = 32,
                 num_layers: int = 1, seed: int = 0) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        self.cell = cell
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embedding = nn.Embedding(vocab_size, embedding_size)
            module = nn.LSTM if cell == "lstm" else nn.GRU
            self.rnn = module(embedding_size, hidden_size, num_layers=num_layers, batch_first=True)
            self.readout = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: Tensor, state=None):
        if ids.dim() != 2:
            raise ValueError(f"expected ids of shape (B, T), got {tuple(ids.shape)}")
        outputs, state = self.rnn(self.embedding(ids), state)
        return self.readout(outputs), state


def parameter_count(cell: str, vocab_size: int, hidden_size: int, embedding_size: int = 32,
                    num_layers: int = 1) -> int:
    """Parameters of a :class:`CharModel`: embedding V·E, the recurrent layers, read-out (H + 1)·V."""
    return (vocab_size * embedding_size
            + cells.parameter_count(cell, embedding_size, hidden_size, num_layers)
            + (hidden_size + 1) * vocab_size)


def matched_hidden_size(cell: str, parameters: int, vocab_size: int, embedding_size: int = 32,
                        num_layers: int = 1) -> int:
    """The hidden size whose :class:`CharModel` has the parameter count closest to ``parameters``."""
    return min(range(1, 2048), key=lambda h: (abs(parameter_count(cell, vocab_size, h, embedding_size,
                                                                  num_layers) - parameters), h))


def detach_state(state):
    """Cut the graph behind a state (a tensor or the LSTM's (h, c)): truncated BPTT."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


# ------------------------------------------------------------------------------------ training

def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> tuple[Tensor, Tensor]:
    """Cut 1-D ids into ``batch_size`` contiguous streams: inputs and next-character targets.

    Returns x, y of shape (B, N) with y[b, t] = x[b, t + 1] inside a stream; N is a multiple of
    ``seq_len`` (the tail that does not fill a chunk is dropped). Chunk j is x[:, j·T:(j+1)·T].
    """
    per_stream = (len(ids) - 1) // batch_size // seq_len * seq_len
    if per_stream == 0:
        raise ValueError(f"{len(ids)} characters do not fill {batch_size} streams of one chunk of {seq_len}")
    starts = torch.arange(batch_size) * ((len(ids) - 1) // batch_size)
    index = starts[:, None] + torch.arange(per_stream)[None, :]
    return ids[index], ids[index + 1]


def chunks(x: Tensor, y: Tensor, seq_len: int) -> Iterator[tuple[Tensor, Tensor]]:
    """The chunks (B, seq_len) of streams from :func:`stream_batches`, in reading order."""
    for start in range(0, x.shape[1], seq_len):
        yield x[:, start:start + seq_len], y[:, start:start + seq_len]


def train_language_model(model: CharModel, ids: Tensor, steps: int, batch_size: int = 32,
                         seq_len: int = 100, lr: float = 3e-3, clip: float | None = 1.0,
                         carry_state: bool = True, threads: int | None = 1) -> History:
    """Truncated BPTT with Adam over the streams of ``ids``; one step per chunk; returns the history.

    ``carry_state=True``: the detached final state of a chunk is the initial state of the next, so
    the model sees context beyond ``seq_len`` characters (gradients still stop at the chunk's start).
    ``carry_state=False``: every chunk starts from a zero state. After the last chunk the reading
    starts again at the beginning of the streams, from a zero state. Losses are in bits per character.
    """
    x, y = stream_batches(ids, batch_size, seq_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    start = time.perf_counter()
    model.train()
    with torch_threads(threads):
        step = 0
        while step < steps:
            state = None
            for inputs, targets in chunks(x, y, seq_len):
                if step == steps:
                    break
                logits, state = model(inputs, state if carry_state else None)
                state = detach_state(state)
                loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                norm = nn.utils.clip_grad_norm_(model.parameters(), clip if clip is not None else float("inf"))
                optimizer.step()
                history.loss.append(loss.item() / math.log(2))
                history.grad_norm.append(norm.item())
                step += 1
    history.seconds = time.perf_counter() - start
    return history


@torch.no_grad()
def character_bits(model: CharModel, ids: Tensor, batch_size: int = 16, seq_len: int = 100,
                   carry_state: bool = True) -> Tensor:
    """The bits of each prediction over held-out ids read in ``batch_size`` streams: (B, N).

    Entry [b, t] is -log2 P(next character | what came before in the stream). ``carry_state=True``
    carries the state through each whole stream; ``False`` resets it every ``seq_len`` characters,
    as a model trained with reset states sees its input.
    """
    x, y = stream_batches(ids, batch_size, seq_len)
    model.eval()
    bits, state = [], None
    with torch_threads(1):
        for inputs, targets in chunks(x, y, seq_len):
            logits, state = model(inputs, state if carry_state else None)
            loss = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
            bits.append(loss / math.log(2))
    return torch.cat(bits, dim=1)


def evaluate_bits(model: CharModel, ids: Tensor, batch_size: int = 16, seq_len: int = 100,
                  carry_state: bool = True) -> float:
    """Bits per character of ``model`` over held-out ids (the mean of :func:`character_bits`)."""
    return character_bits(model, ids, batch_size, seq_len, carry_state).mean().item()


def bits_by_position(model: CharModel, ids: Tensor, batch_size: int = 16, seq_len: int = 100,
                     carry_state: bool = True) -> np.ndarray:
    """Mean bits at each position 0..seq_len-1 of a chunk, (seq_len,): what a reset costs, and where."""
    bits = character_bits(model, ids, batch_size, seq_len, carry_state)
    return bits.reshape(bits.shape[0], -1, seq_len).mean(dim=(0, 1)).numpy()


# ------------------------------------------------------------------------------------ sampling

@torch.no_grad()
def sample(model: CharModel, vocab: Vocabulary, prompt: str, length: int, temperature: float,
           seed: int = 0) -> str:
    """``length`` characters after ``prompt``, each drawn from softmax(logits / temperature).

    Temperature 0 is the limit T -> 0: always the most likely character (greedy decoding).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if not prompt:
        raise ValueError("the prompt must hold at least one character")
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    with torch_threads(1):
        logits, state = model(vocab.encode(prompt)[None, :])
        out = []
        for _ in range(length):
            last = logits[0, -1]
            if temperature == 0:
                nxt = int(last.argmax())
            else:
                probs = torch.softmax(last.double() / temperature, dim=-1)
                nxt = int(torch.multinomial(probs, 1, generator=generator))
            out.append(nxt)
            logits, state = model(torch.tensor([[nxt]]), state)
    return vocab.decode(out)


SAMPLE_STYLE = ("white-space: pre-wrap; overflow-wrap: anywhere; font-family: monospace; font-size: 12px; "
                "line-height: 1.35; margin: 0; max-width: 100%; box-sizing: border-box; "
                "border: 1px solid #ccc; padding: 6px")


def sample_explorer(samples: dict[tuple[str, float], str], note: str = ""):
    """Precomputed samples behind two controls (model, temperature) linked in the browser.

    ``samples[(model name, temperature)]`` is the text shown. Nested ``ipywidgets.Stack``s hold every
    sample; the controls' ``index`` is ``jslink``-ed to their ``selected_index`` (the pattern of
    :mod:`gated.explorer`), so switching needs no kernel and works on the static site.
    """
    names = list(dict.fromkeys(name for name, _ in samples))
    temperatures = sorted({t for _, t in samples})
    missing = [(n, t) for n in names for t in temperatures if (n, t) not in samples]
    if missing:
        raise ValueError(f"every model needs a sample at every temperature; missing {missing}")
    full = widgets.Layout(width="100%", max_width="520px")
    model = widgets.ToggleButtons(options=names, description="model",
                                  style={"description_width": "90px", "button_width": "70px"},
                                  layout=widgets.Layout(width="auto", flex_flow="row wrap"))
    temperature = widgets.SelectionSlider(options=[(f"{t:g}", t) for t in temperatures],
                                          value=temperatures[len(temperatures) // 2],
                                          description="temperature", style={"description_width": "90px"},
                                          layout=full)
    per_model = []
    for name in names:
        texts = [widgets.HTML(f'<pre style="{SAMPLE_STYLE}">{html.escape(samples[(name, t)])}</pre>',
                              layout=widgets.Layout(width="100%"))
                 for t in temperatures]
        stack = widgets.Stack(texts, selected_index=temperature.index, layout=widgets.Layout(width="100%"))
        widgets.jslink((temperature, "index"), (stack, "selected_index"))
        per_model.append(stack)
    top = widgets.Stack(per_model, selected_index=model.index, layout=widgets.Layout(width="100%"))
    widgets.jslink((model, "index"), (top, "selected_index"))
    parts = [model, temperature, top] + ([widgets.HTML(note)] if note else [])
    return widgets.VBox(parts, layout=widgets.Layout(width="100%", max_width="720px"))


# --------------------------------------------------------------------------- interpretable units

FEATURES = ("inside brackets", "inside a string", "inside a comment", "indentation")


def _string_spans(source: str) -> tuple[list[tuple], list[tuple]]:
    """(start, end) positions (row, col) of string tokens (f-strings whole) and of comments."""
    strings, comments, open_fstrings = [], [], []
    starts = {getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n)}
    ends = {getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n)}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        raise ValueError(f"the source does not tokenize as Python: {error}") from None
    for token in tokens:
        if token.type == tokenize.STRING:
            strings.append((token.start, token.end))
        elif token.type == tokenize.COMMENT:
            comments.append((token.start, token.end))
        elif token.type in starts:
            open_fstrings.append(token.start)
        elif token.type in ends:
            begin = open_fstrings.pop()
            if not open_fstrings:           # mark the outermost f-string only
                strings.append((begin, token.end))
    return strings, comments


def source_features(source: str) -> dict[str, np.ndarray]:
    """Per-character features of Python source (arrays of len(source)), from :mod:`tokenize`.

    * ``inside a string``: 1 on the characters of a string literal (prefix and quotes included);
    * ``inside a comment``: 1 from ``#`` to the end of the line;
    * ``indentation``: the number of leading spaces of the character's line;
    * ``inside brackets``: 1 where at least one ``(``, ``[`` or ``{`` of the code (not of a string or
      comment) is open; the brackets themselves count as outside.
    """
    lines = source.splitlines(keepends=True)
    line_start = np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(int)

    def offset(position: tuple[int, int]) -> int:
        row, col = position
        return int(line_start[row - 1] + col)

    strings, comments = _string_spans(source)
    inside_string = np.zeros(len(source))
    inside_comment = np.zeros(len(source))
    for begin, end in strings:
        inside_string[offset(begin):offset(end)] = 1.0
    for begin, end in comments:
        inside_comment[offset(begin):offset(end)] = 1.0
    indentation = np.zeros(len(source))
    for row, line in enumerate(lines):
        indentation[line_start[row]:line_start[row + 1]] = len(line) - len(line.lstrip(" "))
    code = (inside_string == 0) & (inside_comment == 0)
    chars = np.frombuffer(source.encode("utf-32-le"), dtype=np.uint32)
    step = np.where(code & np.isin(chars, [ord(c) for c in "([{"]), 1, 0) \
        - np.where(code & np.isin(chars, [ord(c) for c in ")]}"]), 1, 0)
    depth = np.cumsum(step) - np.where(step > 0, 1, 0)   # an opening bracket is not inside itself
    return {"inside brackets": (depth > 0).astype(float), "inside a string": inside_string,
            "inside a comment": inside_comment, "indentation": indentation}


def split_features(split: Split) -> dict[str, np.ndarray]:
    """:func:`source_features` of each file of a split, concatenated like :attr:`Split.text`."""
    per_file = [source_features(text) for text in split.texts]
    return {name: np.concatenate([f[name] for f in per_file]) for name in FEATURES}


@torch.no_grad()
def state_trace(model: CharModel, ids: Tensor, streams: int = 64) -> dict[str, np.ndarray]:
    """Every unit's state at every character of 1-D ``ids``, last layer: arrays (N, H).

    ``"h"`` is the output state; for the LSTM ``"c"`` is the cell state too. The text is read in
    ``streams`` contiguous pieces side by side, each from a zero state, one character at a time (the
    LSTM's cell state at every step is not among nn.LSTM's outputs); characters past the last full
    piece are not traced.
    """
    per_stream = len(ids) // streams
    x = ids[: per_stream * streams].view(streams, per_stream)
    model.eval()
    names = ("h", "c") if model.cell == "lstm" else ("h",)
    trace = {name: np.empty((streams, per_stream, model.rnn.hidden_size), dtype=np.float32) for name in names}
    state = None
    with torch_threads(1):
        for t in range(per_stream):
            _, state = model(x[:, t:t + 1], state)
            for name, value in zip(names, state if model.cell == "lstm" else (state,)):
                trace[name][:, t] = value[-1].numpy()
    return {name: values.reshape(streams * per_stream, -1) for name, values in trace.items()}


def correlations(activations: np.ndarray, feature: np.ndarray, block: int = 32) -> np.ndarray:
    """Pearson correlation of each unit (column of (N, H)) with a feature (N,); 0 for a constant unit.

    Computed in float64, ``block`` columns at a time, so that no (N, H) float64 copy is made.
    """
    f = feature.astype(np.float64) - feature.mean()
    r = np.zeros(activations.shape[1])
    for start in range(0, activations.shape[1], block):
        a = activations[:, start:start + block].astype(np.float64)
        a -= a.mean(axis=0)
        denominator = np.sqrt((a * a).sum(axis=0) * (f @ f))
        with np.errstate(invalid="ignore", divide="ignore"):
            r[start:start + block] = np.nan_to_num((f @ a) / denominator)
    return r


@dataclass(frozen=True)
class Unit:
    """The unit found for a feature: which state, which unit, its correlation where found and on test."""

    feature: str
    state: str
    unit: int
    found_r: float
    test_r: float


def best_units(found: dict[str, np.ndarray], found_features: dict[str, np.ndarray],
               test: dict[str, np.ndarray], test_features: dict[str, np.ndarray]) -> list[Unit]:
    """For each feature, the unit (over all traced states) with the largest |r| on the ``found`` text.

    Its correlation is then measured again on the ``test`` text, which played no part in the choice.
    """
    units = []
    for feature in FEATURES:
        best = None
        for state, activations in found.items():
            r = correlations(activations, found_features[feature][: len(activations)])
            unit = int(np.abs(r).argmax())
            if best is None or abs(r[unit]) > abs(best[2]):
                best = (state, unit, float(r[unit]))
        state, unit, found_r = best
        test_r = float(correlations(test[state][:, unit:unit + 1],
                                    test_features[feature][: len(test[state])])[0])
        units.append(Unit(feature, state, unit, found_r, test_r))
    return units


def colored_text(text: str, values: np.ndarray, scale: float | None = None) -> str:
    """HTML: ``text`` with each character's background coloured by ``values`` (blue < 0 < red).

    ``scale`` is the value drawn at the strongest colour (default: the largest |value|). Newlines are
    shown as ``↵`` and kept; the block wraps at any width.
    """
    if len(values) != len(text):
        raise ValueError(f"need one value per character: {len(text)} characters, {len(values)} values")
    scale = scale or float(np.abs(values).max()) or 1.0
    spans = []
    for char, value in zip(text, values):
        # At most 60 % tint, so that black text stays readable on the strongest colour.
        pale = int(255 * (1 - 0.6 * min(abs(float(value)) / scale, 1.0)))
        color = f"rgb(255,{pale},{pale})" if value > 0 else f"rgb({pale},{pale},255)"
        shown = "\u21b5\n" if char == "\n" else html.escape(char)
        spans.append(f'<span style="background:{color}">{shown}</span>')
    return f'<pre style="{SAMPLE_STYLE}">{"".join(spans)}</pre>'


# ------------------------------------------------------------------------------------- packing

def packed_final_states(rnn: nn.LSTM | nn.GRU, sequences: list[Tensor]):
    """Final states of a batch of sequences (each (T_b, I)) of different lengths, in one packed run.

    The sequences are padded to the longest with :func:`pad_sequence` and packed with
    ``pack_padded_sequence(..., enforce_sorted=False)``, so each stops at its own last step. Returns
    what the module returns as its final state (h, or (h, c)), in the order of ``sequences``.
    """
    if not rnn.batch_first:
        raise ValueError("expected a batch_first module")
    lengths = torch.tensor([len(s) for s in sequences])
    padded = pad_sequence(sequences, batch_first=True)
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    _, state = rnn(packed)
    return state


def final_states_one_by_one(rnn: nn.LSTM | nn.GRU, sequences: list[Tensor]):
    """Final states of each sequence run alone (batch of one), stacked along the batch dimension."""
    states = [rnn(s[None])[1] for s in sequences]
    if isinstance(states[0], tuple):
        return tuple(torch.cat([s[k] for s in states], dim=1) for k in range(len(states[0])))
    return torch.cat(states, dim=1)
