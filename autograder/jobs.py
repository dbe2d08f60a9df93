"""The run stage: one sanitized submission as a :class:`~autograder.executors.Job`, and its attempts.

A job is run through a slot of the executor; when the process dies or hangs, the cell or probe in
progress is skipped on the next attempt (a probe's later cases too), so the rest of the notebook is
still graded. What comes back is plain data for the judge, read and bounded by
:mod:`autograder.channel`: at most one result per case, all of them within one budget over every
attempt, and a forgery or a broken channel ends the run with a zero and its reason.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from autograder import channel, sandbox
from autograder import rules as course_rules
from autograder.executors import Job, Slot
from autograder.notebook import INSTALL_CELL, grade_id, is_answer, is_test
from autograder.sanitize import Sanitized
from autograder.spec import AssignmentSpec, ProbeError, Result


def build_job(clean: Sanitized, spec: AssignmentSpec, seed_of: Callable[[str], int],
              limits: sandbox.Limits) -> tuple[Job, dict[str, list[dict]]]:
    """The job of one submission and the cases of every check (the judge needs them).
    ``seed_of(grade_id)`` is the seed of that check's hidden cases."""
    cells, cell_limits = [], {}
    for i, cell in enumerate(clean.notebook.cells):
        # the notebook's set-up cell imports the visible checks; the sandbox runs its own set-up instead;
        # its install cell would start pip to fetch the course library, which the sandbox must not have
        if cell.cell_type == "code" and not is_test(cell) and cell.source.strip() \
                and cell.source.strip() != spec.setup.strip() \
                and not (grade_id(cell) == INSTALL_CELL and not is_answer(cell)):
            cells.append({"index": i, "source": cell.source})
            cell_limits[i] = limits.cell_s
    checks, all_cases, arrays = [], {}, {}
    for check in spec.checks:
        cases = check.cases(seed_of(check.grade_id))
        all_cases[check.grade_id] = cases
        encoded = []
        for k, case in enumerate(cases):
            item = {}
            for n, (key, value) in enumerate(case.items()):
                if isinstance(value, (bool, int, float, str)) or value is None:
                    item[key] = {"type": "json", "value": value}
                else:
                    name = f"{check.grade_id}.{k}.{n}.npy"
                    arrays[name] = np.asarray(value)
                    item[key] = {"type": "npy", "file": name}
            encoded.append(item)
        checks.append({"grade_id": check.grade_id, "probe": check.probe, "cases": encoded,
                       "timeout_s": check.timeout_s, "guards": course_rules.guards_of(check.rules)})
    manifest = {"setup": spec.sandbox_setup, "cells": cells, "checks": checks, "cell_timeout_s": limits.cell_s,
                "max_array": channel.MAX_ARRAY, "skip_cells": [], "skip_probes": []}
    probe_limits = {c.grade_id: c.timeout_s for c in spec.checks}
    return Job(manifest, arrays, cell_limits, probe_limits), all_cases


@dataclass
class RunResult:
    results: dict[str, list[Result]]  # grade_id -> one result (or ProbeError) per case
    guarded: dict[str, list[str]]  # grade_id -> what its runtime guards saw run
    failures: list[str]  # what went wrong while running, in words
    output: str  # the first bytes the submission printed


def run_submission(slot: Slot, job: Job, all_cases: dict[str, list[dict]], clean: Sanitized,
                   limits: sandbox.Limits) -> RunResult:
    """Run ``job`` in ``slot`` (retrying past crashes) and read every case's result."""
    skip_cells: set[int] = set()
    skip_probes: set[tuple[str, int]] = set()
    killed: dict[tuple[str, int], ProbeError] = {}
    failures: list[str] = []
    cell_errors: dict[int, str] = {}
    output = b""
    received: dict[tuple[str, int], channel.Received] = {}
    kept = 0
    broken = ""
    deadline = time.monotonic() + limits.submission_s
    for _ in range(limits.max_attempts):
        job.manifest["skip_cells"], job.manifest["skip_probes"] = sorted(skip_cells), sorted(skip_probes)
        attempt = slot.run(job, deadline)
        for key, got in attempt.results.items():
            if key[0] not in all_cases or key[1] >= len(all_cases[key[0]]):
                continue  # not a case of this job: nothing to keep
            before = received.get(key)
            if before is not None and before.forged:
                continue  # a forgery taints its case for good
            size = got.size - (before.size if before else 0)
            if kept + size > channel.MAX_KEPT:
                got = channel.over_budget(got)
                size = got.size - (before.size if before else 0)
            received[key], kept = got, kept + size
        output = output or attempt.output
        if attempt.output_total > limits.output_bytes:
            failures.append(f"output flood: {attempt.output_total / 2**20:.1f} MiB printed, "
                            f"the first {limits.output_bytes // 1024} KiB kept")
        for event in attempt.events:
            if event.get("ev") == "setup":
                failures.append(f"the grader's own set-up failed in the sandbox: {str(event.get('error'))[:200]}")
            if event.get("ev") == "cell" and event.get("status") in ("error", "timeout") \
                    and event.get("i") in job.cell_limits:
                cell_errors[event.get("i")] = f"{event.get('status')}: {str(event.get('error', ''))[:200]}"
        if any(r.forged for r in attempt.results.values()):
            failures.append("results were forged on the grader's channel: the tests concerned score 0")
        if attempt.broken:
            broken = attempt.broken
            failures.append(f"the submission wrote to the grader's result channel ({broken}): "
                            "nothing after that was believed")
            break
        if attempt.done:
            break
        kind, message = sandbox.describe_exit(attempt, limits)
        where = attempt.in_progress or ("startup",)
        if where[0] == "cell":
            cell_errors[where[1]] = f"{kind}: {message}"
            skip_cells.add(where[1])
        elif where[0] == "probe" and where[1] in all_cases:
            check_id, k = where[1], where[2]
            killed[(check_id, k)] = ProbeError(kind, message)
            skip_probes.add((check_id, k))
            # the other cases of a test that hangs or kills the process would do the same: skip them
            for j in range(k + 1, len(all_cases[check_id])):
                if (check_id, j) not in skip_probes:
                    killed[(check_id, j)] = ProbeError(kind, f"skipped after an earlier case: {message}")
                    skip_probes.add((check_id, j))
        else:
            failures.append(f"the sandbox stopped during {where[0]}: {message}")
            break
        if time.monotonic() >= deadline:
            failures.append(f"the submission used up its {limits.submission_s:g} s")
            break
    missing = ProbeError("bad-output", f"no result believed after the channel broke: {broken}") if broken else None
    results, guarded = {}, {}
    for gid, cases in all_cases.items():
        results[gid], seen = [], []
        for k in range(len(cases)):
            got = received.get((gid, k))
            if got is not None and got.forged:
                results[gid].append(got.result)
            elif (gid, k) in killed:
                results[gid].append(killed[(gid, k)])
            elif got is not None:
                results[gid].append(got.result)
            else:
                results[gid].append(missing or ProbeError("missing", "no result: the notebook stopped before this "
                                                                     "test ran"))
            seen += [label for label in (got.guarded if got else ()) if label not in seen]
        guarded[gid] = seen
    names = {i: grade_id(clean.notebook.cells[i]) or f"cell {i + 1}" for i in cell_errors
             if isinstance(i, int) and 0 <= i < len(clean.notebook.cells)}
    failures += [f"{names[i]}: {msg}" for i, msg in sorted(cell_errors.items()) if i in names]
    return RunResult(results, guarded, list(dict.fromkeys(failures)), output.decode("utf-8", "replace"))
