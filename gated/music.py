"""Bach chorales as binary piano rolls, from the corpus that the ``music21`` package ships.

The polyphonic-music experiments of Boulanger-Lewandowski et al. (2012) and Chung et al. (2014) model
a piece as a sequence of frames: at each time step, which of the 88 piano keys sound. We build the
same kind of data from ``music21``'s own Bach corpus (no download):

* keep the scores with exactly four parts (soprano, alto, tenor, bass), as in the JSB Chorales set;
* sample every part at a fixed step (a quarter note by default): key k is on in frame t when a note of
  MIDI pitch ``LOWEST_KEY + k`` sounds at time ``t * step``;
* cache the rolls as one ``.npz`` file, so parsing (about a minute for the whole corpus) happens once;
* split the pieces into train, valid and test by a fixed permutation of their sorted names.

The loss is the frame-level negative log-likelihood of a model with one sigmoid per key: the sum over
the 88 keys of the binary cross-entropy, averaged over all frames of a split (nats per time step).

Shapes: N pieces, T_n frames in piece n, K = 88 keys, B batch, T padded length.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

NUM_KEYS = 88
LOWEST_KEY = 21  # MIDI pitch of A0, the lowest piano key
SCORE_SUFFIXES = (".mxl", ".xml", ".krn")
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache"
SPLIT_FRACTIONS = (0.6, 0.2, 0.2)


def chorale_paths(max_files: int | None = None) -> list[Path]:
    """The score files of music21's Bach corpus, sorted by name; every k-th one if ``max_files``.

    The analyses (``.rntxt``) in the same folder are left out: they hold chords, not voices.
    """
    from music21 import corpus

    paths = sorted(
        (Path(str(p)) for p in corpus.getComposer("bach") if Path(str(p)).suffix in SCORE_SUFFIXES),
        key=lambda p: p.name,
    )
    if not paths:
        raise FileNotFoundError("music21's corpus holds no Bach scores: is music21 installed fully?")
    if max_files is not None and max_files < len(paths):
        stride = len(paths) / max_files
        paths = [paths[int(i * stride)] for i in range(max_files)]
    return paths


def score_to_roll(score, step: float = 1.0) -> np.ndarray:
    """Sample a parsed ``music21`` score every ``step`` quarter notes. Returns a bool roll (T, 88).

    Frame t is the instant ``t * step`` from the start of the score; a key is on when some note or
    chord of any part sounds at that instant (onset <= t * step < onset + duration).
    """
    if step <= 0:
        raise ValueError(f"step must be a positive number of quarter notes, got {step}")
    length = int(np.ceil(float(score.highestTime) / step))
    roll = np.zeros((length, NUM_KEYS), dtype=bool)
    for element in score.flatten().notes:
        start = float(element.offset)
        end = start + float(element.quarterLength)
        first = int(np.ceil(start / step - 1e-9))
        last = int(np.ceil(end / step - 1e-9))  # exclusive
        for pitch in element.pitches:
            key = pitch.midi - LOWEST_KEY
            if not 0 <= key < NUM_KEYS:
                raise ValueError(f"pitch {pitch} (MIDI {pitch.midi}) lies outside the 88 piano keys")
            roll[first:last, key] = True
    return roll


def parse_chorales(step: float = 1.0, max_files: int | None = None,
                   parts: int = 4) -> tuple[list[str], list[np.ndarray]]:
    """Parse the corpus' scores with exactly ``parts`` parts. Returns names and rolls (T_n, 88)."""
    from music21 import converter

    names, rolls = [], []
    for path in chorale_paths(max_files):
        score = converter.parse(path)
        if len(score.parts) != parts:
            continue
        roll = score_to_roll(score, step)
        if roll.any():
            names.append(path.stem)
            rolls.append(roll)
    return names, rolls


def _cache_file(cache_dir: Path, step: float, max_files: int | None, parts: int) -> Path:
    tag = f"step{step:g}-files{max_files or 'all'}-parts{parts}"
    return Path(cache_dir) / f"bach-chorales-{tag}.npz"


@dataclass
class Chorales:
    """Piano rolls of the chorales, by split. ``rolls[split]`` is a list of float32 arrays (T_n, 88)."""

    names: dict[str, list[str]]
    rolls: dict[str, list[np.ndarray]]
    step: float
    source: str  # "parsed in 41.2 s" or "cache .cache/....npz"

    def frames(self, split: str) -> int:
        """Total number of frames (time steps) in a split."""
        return sum(len(r) for r in self.rolls[split])

    def summary(self) -> dict[str, dict[str, float]]:
        """Pieces, frames, mean length and mean number of sounding keys per frame, by split."""
        out = {}
        for split, rolls in self.rolls.items():
            frames = self.frames(split)
            out[split] = {
                "pieces": len(rolls),
                "frames": frames,
                "mean length": frames / max(len(rolls), 1),
                "keys on per frame": sum(r.sum() for r in rolls) / max(frames, 1),
            }
        return out


def split_names(names: list[str], fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
                seed: int = 0) -> dict[str, list[str]]:
    """Deterministic train/valid/test split: a seeded permutation of the sorted names.

    The same names and seed always give the same split, whatever order the names came in.
    """
    if abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    ordered = sorted(names)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_train = int(round(fractions[0] * len(ordered)))
    n_valid = int(round(fractions[1] * len(ordered)))
    picked = [ordered[i] for i in order]
    return {
        "train": sorted(picked[:n_train]),
        "valid": sorted(picked[n_train:n_train + n_valid]),
        "test": sorted(picked[n_train + n_valid:]),
    }


def load_chorales(cache_dir: str | Path = DEFAULT_CACHE, step: float = 1.0,
                  max_files: int | None = None, parts: int = 4, seed: int = 0) -> Chorales:
    """The chorales' piano rolls split into train/valid/test, parsed once and cached as ``.npz``.

    ``cache_dir`` is created if missing; a second call with the same ``step``, ``max_files`` and
    ``parts`` reads the cache instead of parsing.
    """
    path = _cache_file(Path(cache_dir), step, max_files, parts)
    if path.exists():
        with np.load(path) as data:
            names = [str(n) for n in data["names"]]
            lengths = data["lengths"]
            flat = data["rolls"]
        rolls = np.split(flat, np.cumsum(lengths)[:-1])
        source = f"cache {path.name}"
    else:
        start = time.perf_counter()
        names, rolls = parse_chorales(step, max_files, parts)
        if not names:
            raise ValueError(f"no score with {parts} parts among the parsed files")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, names=np.array(names), lengths=np.array([len(r) for r in rolls]),
                            rolls=np.concatenate(rolls))
        tmp.replace(path)
        source = f"parsed in {time.perf_counter() - start:.1f} s"
    by_name = dict(zip(names, rolls))
    split = split_names(names, seed=seed)
    return Chorales(
        names=split,
        rolls={k: [by_name[n].astype(np.float32) for n in v] for k, v in split.items()},
        step=step,
        source=source,
    )


def fingerprint(rolls: list[np.ndarray]) -> str:
    """A short hash of a list of rolls, to check that two loads gave the same data."""
    digest = hashlib.sha256()
    for roll in rolls:
        digest.update(np.asarray(roll, dtype=bool).tobytes())
        digest.update(str(roll.shape).encode())
    return digest.hexdigest()[:12]


# ----------------------------------------------------------------------- batches and the loss


def pad_batch(rolls: list[np.ndarray]) -> tuple[Tensor, Tensor, Tensor]:
    """Inputs, targets and mask for next-frame prediction, batch first.

    From rolls of lengths T_n, returns ``inputs`` (B, T, 88) = frames 0..T_n-2 (frame 0 shifted in
    after an all-zero frame: the model predicts frame 0 from silence), ``targets`` (B, T, 88) = frames
    0..T_n-1, and ``mask`` (B, T), 1 where a target exists. T = max T_n.
    """
    if not rolls:
        raise ValueError("pad_batch needs at least one roll")
    length = max(len(r) for r in rolls)
    batch = len(rolls)
    targets = torch.zeros(batch, length, NUM_KEYS)
    mask = torch.zeros(batch, length)
    for b, roll in enumerate(rolls):
        if roll.ndim != 2 or roll.shape[1] != NUM_KEYS:
            raise ValueError(f"expected a roll of shape (T, {NUM_KEYS}), got {roll.shape}")
        targets[b, :len(roll)] = torch.as_tensor(roll, dtype=torch.float32)
        mask[b, :len(roll)] = 1
    inputs = torch.zeros_like(targets)
    inputs[:, 1:] = targets[:, :-1]
    return inputs, targets, mask


def frame_nll(logits: Tensor, targets: Tensor, mask: Tensor | None = None,
              reduction: str = "mean") -> Tensor:
    """Frame-level negative log-likelihood of independent sigmoid outputs, in nats.

    logits, targets: (B, T, K); mask: (B, T) or None. For each frame, the sum over the K keys of the
    binary cross-entropy; ``reduction="mean"`` averages over the frames where ``mask`` is 1,
    ``"sum"`` adds them up (to average over a whole split yourself).
    """
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ")
    per_key = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    per_frame = per_key.sum(-1)
    if mask is None:
        mask = torch.ones_like(per_frame)
    total = (per_frame * mask).sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / mask.sum()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def batches(rolls: list[np.ndarray], batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None):
    """Yield ``pad_batch`` results over a list of rolls, in order or shuffled by ``generator``."""
    order = torch.randperm(len(rolls), generator=generator).tolist() if shuffle else list(range(len(rolls)))
    for start in range(0, len(order), batch_size):
        yield pad_batch([rolls[i] for i in order[start:start + batch_size]])


def marginal_nll(train: list[np.ndarray], test: list[np.ndarray]) -> float:
    """NLL per frame of the best memoryless model: each key on with its training frequency.

    A baseline that a sequence model must beat: it knows how often each key sounds, nothing else.
    """
    on = np.concatenate(train).mean(0).clip(1e-4, 1 - 1e-4)
    frames = np.concatenate(test)
    ll = frames * np.log(on) + (1 - frames) * np.log(1 - on)
    return float(-ll.sum(1).mean())
