"""The nbgrader assignments: sources pass their own tests, releases fail only at the stubs, and
``solutions/`` and ``exercises/`` are exactly what ``make exercises`` makes from ``authoring/sources/``.

Each notebook is executed once per module (fixtures), in a real kernel through nbclient.
"""
from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from authoring import notebook as authored
from authoring import release
from autograder.assignments import SPECS
from autograder.notebook import nbgrader as _meta
from testbed import submissions as subs

ROOT = subs.ROOT
ASSIGNMENTS = sorted(SPECS)


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def executed_source(request):
    """(assignment, the source notebook executed in full, errors allowed so all cells report)."""
    nb = subs.read(request.param)
    return request.param, subs.execute_notebook(nb, allow_errors=True)


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def executed_release(request):
    """(assignment, the released notebook executed top to bottom with the stubs in place)."""
    nb = subs.read(request.param, "exercises")
    return request.param, subs.execute_notebook(nb, allow_errors=True)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """A clean course root holding only the nbgrader config, where ``make exercises`` wrote
    solutions/ from authoring/sources/ and released exercises/ from them."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for name in ASSIGNMENTS:
        authored.write(name, root)
    release.generate(root)
    return root


def _files(root, folder):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / folder).rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_make_exercises_from_a_clean_tree_changes_nothing(regenerated, folder):
    fresh, committed = _files(regenerated, folder), _files(ROOT, folder)
    changed = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert changed == [], "run make exercises and commit what it writes"


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_generated_notebooks_say_so_and_name_their_source(assignment, folder):
    nb = subs.read(assignment, folder)
    source = f"authoring/sources/{assignment}.py"
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    assert (nb.metadata["generated"]["from"], authored.generated_notice(assignment) in first.source) == \
        (source, True) and (ROOT / source).exists()


def test_readme_points_tables_are_the_specs():
    readme = (ROOT / "README.md").read_text()
    assert f"{authored.README_START}\n{authored.readme_points()}\n{authored.README_END}" in readme, \
        "run make exercises: it rewrites the README's points tables from the grading specs"


def test_source_notebooks_pass_all_visible_and_hidden_tests(executed_source):
    assignment, nb = executed_source
    failed = [_meta(c).get("grade_id") for c in nb.cells if c.cell_type == "code" and subs.errored(c)]
    assert failed == [], f"{assignment}: cells that raised or wrote to stderr: {failed}"


def test_released_notebooks_fail_only_at_the_stubs(executed_release):
    assignment, nb = executed_release
    unexpected = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        if meta.get("grade"):
            if not subs.errored(cell):
                unexpected.append(f"{meta['grade_id']} passed with the stubs")
        elif subs.errored(cell) and not (meta.get("solution")
                                         and "raise NotImplementedError()" in cell.source):
            unexpected.append(f"{meta.get('grade_id')} raised")
    assert unexpected == [], assignment


def test_released_test_cells_say_the_answer_is_not_written(executed_release):
    assignment, nb = executed_release
    silent = [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("grade")
              and not any("not written yet" in o.get("evalue", "") or "must be a single number"
                          in o.get("evalue", "") for o in c.outputs)]
    assert silent == [], assignment


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_equal_a_fresh_generate_assignment(regenerated, assignment):
    fresh = nbformat.read(regenerated / "exercises" / assignment / f"{assignment}.ipynb", 4)
    committed = subs.read(assignment, "exercises")
    assert [(c.cell_type, c.source, _meta(c)) for c in committed.cells] == \
        [(c.cell_type, c.source, _meta(c)) for c in fresh.cells]


def test_exercises_hold_exactly_the_released_assignments():
    released = sorted(p.name for p in (ROOT / "exercises").iterdir() if p.is_dir())
    files = sorted(str(p.relative_to(ROOT / "exercises")) for p in (ROOT / "exercises").rglob("*")
                   if p.is_file())
    assert (released, files) == (ASSIGNMENTS, [f"{a}/{a}.ipynb" for a in ASSIGNMENTS])


def test_solution_folders_hold_only_their_notebook():
    extra = [str(p.relative_to(ROOT)) for a in ASSIGNMENTS for p in (ROOT / "solutions" / a).iterdir()
             if p.name != f"{a}.ipynb"]
    assert extra == []


def _solution_lines(assignment: str) -> set[str]:
    lines = set()
    for cell in subs.read(assignment).cells:
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            lines |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines |= {line.strip() for line in block.splitlines() if line.strip()}
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_code_or_hidden_test_in_exercises(assignment):
    text = "\n".join(c.source for c in subs.read(assignment, "exercises").cells)
    leaked = sorted(line for line in _solution_lines(assignment) if line in text)
    markers = [m for m in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", 'suite="hidden"')
               if m in text]
    assert (leaked, markers) == ([], [])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_have_the_spec_grade_ids_and_points(assignment):
    cells = [(_meta(c)["grade_id"], _meta(c)["points"]) for c in subs.read(assignment).cells
             if _meta(c).get("grade")]
    assert cells == [(check.grade_id, check.points) for check in SPECS[assignment].checks]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_first_code_cells_install_the_course_then_run_the_spec_setup(assignment):
    from authoring.notebook import INSTALL_CELL

    install, setup = [c for c in subs.read(assignment).cells if c.cell_type == "code"][:2]
    assert _meta(install)["grade_id"] == INSTALL_CELL and _meta(install)["locked"]
    assert "git+https://github.com/" in install.source and "find_spec" in install.source
    assert setup.source.strip() == SPECS[assignment].setup.strip()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_states_its_total_points(assignment):
    intro = subs.read(assignment, "exercises").cells[0].source
    assert f"| **total** | | **{SPECS[assignment].total_points:g}** |" in intro


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_but_the_value_question_has_hidden_tests(assignment):
    missing = [_meta(c)["grade_id"] for c in subs.read(assignment).cells if _meta(c).get("grade")
               and "### BEGIN HIDDEN TESTS" not in c.source]
    assert missing in ([], ["test_gradient_flow"])


def test_nbgrader_config_points_at_solutions_and_exercises():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    course = config.CourseDirectory
    assert (course.root, course.source_directory, course.release_directory,
            config.Execute.skip_cells_with_tag != "skip-execution", config.IgnorePattern.enabled) == \
        (str(ROOT), "solutions", "exercises", True, True)
