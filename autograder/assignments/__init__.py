"""The grading specs of the course's nbgrader assignments: ``SPECS[name]`` is an AssignmentSpec."""
from __future__ import annotations

from autograder.assignments import bptt, gru, lstm, lstm_kernel
from autograder.spec import AssignmentSpec

SPECS: dict[str, AssignmentSpec] = {
    spec.name: spec for spec in (gru.SPEC, bptt.SPEC, lstm.SPEC, lstm_kernel.SPEC)
}
