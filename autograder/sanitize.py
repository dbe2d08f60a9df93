"""Rebuild a submitted notebook from the instructor's skeleton, taking only the answers from the student.

Test, locked and read-only cells (and every cell without nbgrader metadata in the skeleton) come
from the instructor's released notebook; the student contributes only answer cells, matched by
``grade_id``. When the nbgrader metadata is gone (Colab and VS Code drop it), answers are matched by
position between cells whose text is unchanged. Code cells a student added right after an answer are
kept with that answer (helpers are honest work); other added cells are dropped. Tags, outputs and
unknown metadata are never copied. Every repair is reported in plain words.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import nbformat

from autograder.notebook import grade_id, is_answer, is_test, nbgrader

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_REPAIRS = 40  # repairs listed for one notebook (a notebook of many tagged cells says so once)


class NotANotebook(ValueError):
    """The file cannot be read as a Jupyter notebook; the message says why."""


@dataclass
class Sanitized:
    notebook: nbformat.NotebookNode  # the skeleton with the student's answers in place
    answers: dict[str, str]  # grade_id -> the code or text taken from the student
    repairs: list[str] = field(default_factory=list)
    foreign: str = ""  # why the notebook is not this assignment's at all (then nothing is graded)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def read_cells(data: bytes) -> list[dict]:
    """The cells of a submitted notebook file, tolerant of missing metadata; raises NotANotebook."""
    if not data.strip():
        raise NotANotebook("the file is empty")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotANotebook(f"the file is larger than the {MAX_NOTEBOOK_BYTES // 2**20} MiB a notebook may have")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NotANotebook("the file is not text (a notebook is a JSON text file)") from None
    except ValueError as exc:
        raise NotANotebook(f"the file is not valid JSON, perhaps truncated ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise NotANotebook("the file is JSON but not a Jupyter notebook (no list of cells)")
    cells = [c for c in doc["cells"] if isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw")]
    return cells


def sanitize(data: bytes, skeleton: nbformat.NotebookNode) -> Sanitized:
    """Rebuild ``skeleton`` (the released notebook) with the student's answers from ``data``."""
    student = read_cells(data)
    repairs: list[str] = []
    skel = skeleton.cells
    answer_ids = {grade_id(c): i for i, c in enumerate(skel) if is_answer(c)}
    other_ids = {grade_id(c): i for i, c in enumerate(skel)
                 if grade_id(c) and not is_answer(c)}
    by_text: dict[str, int] = {}
    for i, c in enumerate(skel):
        if not is_answer(c) and _norm(_source(c)):
            by_text.setdefault(_norm(_source(c)), i)

    answers: dict[str, list[str]] = {}
    matched_by_position: list[str] = []
    extra_kept: dict[str, int] = {}
    dropped = 0
    seen_tests: dict[str, int] = {}
    order: list[int] = []
    region: tuple[str, object] | None = None  # ("answer", grade_id) or ("anchor", skeleton index)
    stripped = 0
    for cell in student:
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        if meta.get("tags"):
            tags = meta["tags"] if isinstance(meta["tags"], list) else [meta["tags"]]
            repairs.append(f"tags dropped: {', '.join(map(str, tags))[:80]}")
        nbg = nbgrader(cell)
        gid = grade_id(cell)
        text = _norm(_source(cell))
        if gid in answer_ids and cell.get("cell_type") == skel[answer_ids[gid]].cell_type:
            if gid in answers and gid not in matched_by_position:
                repairs.append(f"duplicate answer cell {gid} ignored (the first one counts)")
                region = ("answer", gid)
                continue
            answers[gid] = [_source(cell)]
            order.append(answer_ids[gid])
            region = ("answer", gid)
            continue
        if gid in other_ids:
            i = other_ids[gid]
            seen_tests[gid] = seen_tests.get(gid, 0) + 1
            original = skel[i]
            if seen_tests[gid] == 2:
                repairs.append(f"cell {gid} duplicated: the copy was dropped")
            if text != _norm(_source(original)) and seen_tests[gid] == 1:
                kind = "test cell" if is_test(original) else "locked cell"
                repairs.append(f"{kind} {gid} edited: the instructor's version was used")
            if is_test(original) and nbg.get("points") not in (None, nbgrader(original).get("points")):
                repairs.append(f"points of {gid} changed to {repr(nbg.get('points'))[:40]}: the instructor's "
                               f"{nbgrader(original).get('points')} were used")
            if nbg.get("solution") and not is_answer(original):
                repairs.append(f"cell {gid} re-marked as an answer: the instructor's version was used")
            order.append(i)
            region = ("anchor", i)
            continue
        if not nbg and meta.get("nbgrader") is None and text in by_text:
            stripped += 1
            region = ("anchor", by_text[text])
            order.append(by_text[text])
            continue
        if not nbg:
            stripped += 1 if text else 0
        if cell.get("cell_type") != "code" or not text:
            continue
        target = _answer_for_region(region, skel, answers, matched_by_position)
        if target is None:
            dropped += 1
            continue
        gid_t, how = target
        if how == "position":
            answers[gid_t] = [_source(cell)]
            matched_by_position.append(gid_t)
            order.append(answer_ids[gid_t])
            region = ("answer", gid_t)
        else:
            answers[gid_t].append(_source(cell))
            extra_kept[gid_t] = extra_kept.get(gid_t, 0) + 1
    for gid in matched_by_position:
        repairs.append(f"answer {gid} had no nbgrader metadata (saved by Colab or VS Code?): matched by position")
    for gid, n in extra_kept.items():
        repairs.append(f"{n} cell(s) you added after answer {gid} kept with that answer")
    if dropped:
        repairs.append(f"{dropped} added code cell(s) outside the answers dropped")
    if stripped and not matched_by_position and not any(nbgrader(c) for c in student):
        repairs.append("metadata stripped from every cell (saved by Colab or VS Code?)")
    for gid, i in other_ids.items():
        if is_test(skel[i]) and gid not in seen_tests and not _found_by_text(skel[i], student):
            repairs.append(f"test cell {gid} missing: the instructor's version was used")
    for gid in answer_ids:
        if gid not in answers:
            repairs.append(f"answer cell {gid} missing: graded as empty")
    if order != sorted(order):
        repairs.append("cells reordered: graded in the assignment's order")

    notebook = copy.deepcopy(skeleton)
    taken: dict[str, str] = {}
    for cell in notebook.cells:
        cell.metadata = {"nbgrader": copy.deepcopy(cell.metadata.get("nbgrader", {}))} if "nbgrader" in cell.metadata else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        gid = grade_id(cell)
        if is_answer(cell) and gid in answers:
            cell.source = "\n\n".join(s.rstrip("\n") for s in answers[gid])
            taken[gid] = cell.source
    foreign = ""
    their_tests = {grade_id(c) for c in student if is_test(c)}
    if (their_tests and not their_tests & {grade_id(c) for c in skel if is_test(c)}) or (
            not seen_tests and not answers and any(grade_id(c) for c in student)
            and not any(_found_by_text(c, student) for c in skel if _norm(_source(c)))):
        foreign = ("this notebook is not this assignment's: none of its test cells belongs to it (another "
                   f"assignment's notebook submitted under this one? its tests: {', '.join(sorted(their_tests))[:120]})")
    return Sanitized(notebook=notebook, answers=taken, repairs=_unique(repairs), foreign=foreign)


def _found_by_text(cell, student: list[dict]) -> bool:
    text = _norm(_source(cell))
    return any(_norm(_source(c)) == text for c in student)


def _answer_for_region(region, skel, answers, matched_by_position):
    """Which answer a free code cell belongs to: ('grade_id', 'extra' | 'position') or None."""
    if region is None:
        start = -1
    elif region[0] == "answer":
        return region[1], "extra"
    else:
        start = region[1]
    for cell in skel[start + 1:]:
        if cell.cell_type != "code":
            continue
        if is_answer(cell):
            gid = grade_id(cell)
            return (gid, "position") if gid not in answers else None
        return None
    return None


def _unique(items: list[str]) -> list[str]:
    seen = list(dict.fromkeys(items))
    if len(seen) > MAX_REPAIRS:
        seen = seen[:MAX_REPAIRS] + [f"and {len(seen) - MAX_REPAIRS} more repairs"]
    return seen
