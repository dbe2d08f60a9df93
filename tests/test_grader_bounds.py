"""What one hostile submission costs the grader (testbed/bounds.py): at most 512 MiB of memory and a
few seconds of the grader's own CPU over an honest submission, and feedback of at most 1 MiB.

CPU time, not wall time, is compared: the machine is shared, and the grader's own work on what comes
back is what the bound is about (the sandbox's time is limited separately)."""
from __future__ import annotations

import pytest

from testbed import bounds


@pytest.fixture(scope="module")
def costs():
    try:
        from autograder import sandbox

        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(f"the sandbox cannot run here: {exc}")
    return bounds.report(list(bounds.SCENARIOS))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(bounds.SCENARIOS))
def test_one_hostile_submission_costs_the_grader_little(costs, scenario):
    got = costs[scenario]
    assert got["rss_over_mib"] <= 512, got
    assert got["cpu_over_s"] <= 5.0, got
    assert got["feedback_bytes"] <= 2**20, got
    assert got["scores"]["honest"] == 20.0, got  # the classmate graded beside it is unharmed
