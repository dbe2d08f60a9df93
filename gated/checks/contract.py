"""The contract between the probes that run beside a submission and the judges that decide its points.

A probe returns a dict of plain data for each case, or the sandbox reports a :class:`ProbeError`
instead; a judge turns a check's cases and results into a :class:`Verdict`. The visible tests
(:mod:`gated.checks`) and the grading pipeline both speak these types; they live in the course
library so that the pipeline imports the library and never the reverse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProbeError:
    """What the sandbox reports instead of a result: the kind and a one-line reason."""

    kind: str  # "exception", "timeout", "crash", "memory", "missing", "forbidden", "bad-output"
    message: str


@dataclass(frozen=True)
class Verdict:
    """A judge's decision on one grade cell: ``fraction`` of its points in [0, 1] and why."""

    fraction: float
    feedback: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must lie in [0, 1], got {self.fraction}")


Inputs = dict[str, Any]
Result = dict[str, Any] | ProbeError
