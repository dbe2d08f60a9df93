"""The instructor's review after grading: the summary table, progress, the feedback page and how it
reaches students, the autograded notebooks, and manual grading in nbgrader's formgrader (chromium).
Screenshots go to _build/test-artifacts/."""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import cli, feedback, pipeline, record
from autograder.assignments import SPECS
from autograder.judge import CheckResult
from gated.checks import MISTAKES
from testbed.mistakes import planted_mistakes
from testbed.submissions import answers, submission

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "_build" / "test-artifacts"
SPEC = SPECS["gru"]
SWAP = "new_state: " + MISTAKES["update_swapped"]


def outcome(student: str, lost: dict[str, list[str]], failures=(), fatal=None, source="") -> pipeline.Outcome:
    """An outcome of ``gru`` that lost the tests of ``lost`` (grade id -> feedback lines)."""
    checks = [CheckResult(c.grade_id, c.points, 0.0 if c.grade_id in lost else c.points,
                          lost.get(c.grade_id, [f"{c.grade_id}: all cases match"])) for c in SPEC.checks]
    o = pipeline.Outcome(student, "digest-" + student, max_score=SPEC.total_points, checks=checks,
                         failures=list(failures), fatal=fatal, source=source)
    o.score = sum(c.score for c in checks)
    return o


def run_summary(tmp_path, outcomes, skipped=()) -> pipeline.RunSummary:
    csv_path = tmp_path / "gru-grades.csv"
    with open(csv_path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["student", "assignment", "score", "max_score"])
        for student, score in {**{o.student: o.score for o in outcomes}, **dict(skipped)}.items():
            out.writerow([student, "gru", score, 20])
    return pipeline.RunSummary(list(outcomes), [s for s, _ in skipped], 1.0, tmp_path, csv_path)


# ------------------------------------------------------------------- item 3: the summary table


def test_summary_names_the_mistakes_of_lost_tests_not_the_last_crash(tmp_path):
    crash = ["answer_gradient_flow: error: NotImplementedError:"]
    swapped = outcome("ada", {"test_new_state": [SWAP], "test_gru_cell": ["gru_cell: " + MISTAKES["update_swapped"]]},
                      failures=crash)
    unnamed = outcome("bob", {"test_gru_backward": ["gru_cell_backward is not written yet: it still raises "
                                                   "NotImplementedError"]}, failures=crash)
    table = cli.summary_table(run_summary(tmp_path, [swapped, unnamed]), "gru", width=200)
    ada = next(line for line in table.splitlines() if line.startswith("ada"))
    bob = next(line for line in table.splitlines() if line.startswith("bob"))
    assert "update_swapped (2 tests)" in ada and "NotImplementedError:" not in ada
    assert "test_gru_backward: gru_cell_backward is not written yet" in bob


def test_a_rerun_that_keeps_everyone_reports_their_mean(tmp_path):
    state = record.State(tmp_path / "state" / "gru")
    kept = [outcome("ada", {"test_new_state": [SWAP]}), outcome("bob", {})]
    for o in kept:
        state.mark_done(o, "fingerprint")
    table = cli.summary_table(run_summary(tmp_path, [], skipped=[(o.student, o.score) for o in kept]), "gru")
    assert "mean 19.50 of 2" in table
    assert "ada" in table and "(kept) update_swapped" in table


# ------------------------------------------------------------------------- item 4: progress


def _advance(progress, n: int) -> None:
    progress.start(n)
    for i in range(n):
        progress.advance(outcome(f"s{i:02d}", {}))
    progress.finish()


def test_progress_in_a_pipe_is_a_line_per_tenth_and_a_last_line():
    stream = io.StringIO()
    _advance(cli.Progress(stream), 25)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split()[1] for line in lines] == [f"{k}/25" for k in (3, 6, 9, 12, 15, 18, 21, 24, 25)]


def test_progress_on_a_terminal_is_a_live_bar():
    import fcntl
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    with os.fdopen(terminal, "w") as stream:
        _advance(cli.Progress(stream), 5)
    shown = b""
    os.set_blocking(controller, False)
    try:
        while chunk := os.read(controller, 65536):
            shown += chunk
    except (BlockingIOError, OSError):
        pass
    os.close(controller)
    text = shown.decode(errors="replace")
    assert "\r" in text and "5/5" in text and "graded 5/5" not in text


# -------------------------------------------------------------- item 5: the feedback page


def test_feedback_page_escapes_student_text_and_leads_with_what_to_fix():
    o = outcome("ada", {"test_new_state": [SWAP]}, failures=["answer_cell: error: ValueError: \x1b[31m<b>red</b>"])
    o.answers = {"answer_cell": "def new_state(z, n, h):\n    return '<script>alert(1)</script>'\x07"}
    page = feedback.feedback_html(o, SPEC)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page and "\x07" not in page and "<b>red" not in page
    first = page[page.index('class="first"'):]
    assert first.index("test_new_state") < first.index("z and 1 − z are swapped") < first.index("</p>")
    assert page.index("<h1>gru: 19 / 20</h1>") < page.index('class="first"')
    hidden = [line for line in (ROOT / "solutions" / "gru" / "gru.ipynb").read_text().splitlines()
              if 'suite=\\"hidden\\"' in line]
    assert hidden and "hidden" not in page


@pytest.mark.parametrize("score", [0.0, 1.0, 2.0])
def test_autograded_test_cells_give_nbgrader_the_judges_score(score):
    from nbgrader.utils import determine_grade

    cell = nbformat.v4.new_code_cell("check_gru_layer(gru_layer)")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_gru_layer", "points": 2}
    cell.outputs = record.verdict_outputs(CheckResult("test_gru_layer", 2.0, score, ["a reason"]))
    assert determine_grade(cell) == (score, 2.0)


# -------------------------------------------------------------- the graded class (end to end)


def _class_zip(folder: Path) -> Path:
    """An LMS export of three students: one named by Moodle's file names."""
    swapped = {m.name: m for m in planted_mistakes()}["update_swapped"]
    notebooks = {
        "Ada Lovelace_1001_assignsubmission_file_gru.ipynb": submission("gru", answers("gru", swapped.all_edits())),
        "alan_gru.ipynb": submission("gru", answers("gru")),
        "carol_gru.ipynb": submission("gru"),
    }
    archive = folder / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, nb in notebooks.items():
            zf.writestr(name, nbformat.writes(nb))
    return archive


def _grade(archive: Path, workspace: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", "gru", "--submissions", str(archive),
                           "--workspace", str(workspace), "--workers", "2", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    archive = _class_zip(folder)
    workspace = folder / "grading"
    first = _grade(archive, workspace)
    assert first.returncode == 0, first.stderr[-3000:]
    return archive, workspace, first


@pytest.mark.slow
def test_cli_table_and_progress_of_a_class(graded):
    archive, workspace, first = graded
    assert "\r" not in first.stderr and "graded 3/3" in first.stderr  # a pipe: lines, no bar
    ada = next(line for line in first.stdout.splitlines() if line.startswith("Ada_Lovelace"))
    assert "update_swapped (" in ada
    again = _grade(archive, workspace)
    assert "kept 3 unchanged" in again.stdout
    mean = lambda out: next(line for line in out.splitlines() if "mean" in line).split("mean ")[1].split()[0]  # noqa: E731
    assert mean(again.stdout) == mean(first.stdout) != "0.00"


@pytest.mark.slow
def test_feedback_zip_names_each_page_after_the_submitted_file(graded):
    _, workspace, _ = graded
    ran = subprocess.run([sys.executable, "-m", "autograder", "feedback", "gru", "--workspace", str(workspace)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    with zipfile.ZipFile(workspace / "gru-feedback.zip") as zf:
        names = sorted(zf.namelist())
        page = zf.read("Ada Lovelace_1001_assignsubmission_file_gru.html").decode()
    assert names == ["Ada Lovelace_1001_assignsubmission_file_gru.html", "alan_gru.html", "carol_gru.html"]
    assert "z and 1 − z are swapped" in page


def test_feedback_refuses_a_workspace_with_nothing_graded(tmp_path):
    ran = subprocess.run([sys.executable, "-m", "autograder", "feedback", "gru", "--workspace", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode != 0 and "Traceback" not in ran.stderr and "nothing graded for gru" in ran.stderr


@pytest.mark.slow
def test_feedback_through_the_exchange_is_nbgraders_release_feedback(tmp_path):
    """A class collected by nbgrader (timestamp.txt and submission_secret.txt beside each notebook)
    is graded, and its feedback released to the exchange under nbgrader's own names."""
    from nbgrader.utils import notebook_hash

    submitted = tmp_path / "submitted"
    for student, secret in (("dana", "s3cr3t-dana"), ("eve", "s3cr3t-eve")):
        folder = submitted / student / "gru"
        folder.mkdir(parents=True)
        nbformat.write(submission("gru", answers("gru")), str(folder / "gru.ipynb"))
        (folder / "timestamp.txt").write_text("2026-11-30 12:00:00.000000 UTC")
        (folder / "submission_secret.txt").write_text(secret)
    workspace, exchange = tmp_path / "grading", tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # an exchange is a folder every student can write to (nbgrader's set-up)
    ran = _grade(submitted, workspace)
    assert ran.returncode == 0, ran.stderr[-2000:]
    ran = subprocess.run([sys.executable, "-m", "autograder", "feedback", "gru", "--workspace", str(workspace),
                          "--exchange", "--course", "grn", "--exchange-root", str(exchange)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    released = {p.name for p in (exchange / "grn" / "feedback").glob("*.html")}
    assert released == {f"{notebook_hash(secret=s, notebook_id='gru')}.html" for s in ("s3cr3t-dana", "s3cr3t-eve")}


# ---------------------------------------------------------- item 5: the page on a phone (chromium)


def _browser_tools():
    from browser import sitebrowser  # noqa: PLC0415 - the site tests' chromium helpers
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright's client: pip install -r requirements.txt", pytrace=False)
    return sitebrowser, sync_playwright


OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('pre') && el.tagName !== 'PRE') continue;   // inside a box that scrolls
    const r = el.getBoundingClientRect();
    if (r.right > width + 0.5) out.push(el.tagName + ' ' + Math.round(r.right));
  }
  return {width, scroll: document.documentElement.scrollWidth, out};
}"""


@pytest.mark.slow
def test_feedback_page_fits_a_phone(graded):
    _, workspace, _ = graded
    sb, sync_playwright = _browser_tools()
    page_path = workspace / "feedback" / "Ada_Lovelace" / "gru" / "gru.html"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sb.SiteServer(page_path.parent) as server, sync_playwright() as p:
        browser = sb.launch(p)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            outside: list[str] = []
            sb.block_outside(context, outside)
            page = context.new_page()
            page.goto(server.url + page_path.name)
            seen = page.evaluate(OVERFLOW_JS)
            page.screenshot(path=str(ARTIFACTS / "feedback-390px.png"), full_page=True)
        finally:
            browser.close()
    assert seen["width"] == 390 and seen["scroll"] <= 390 and seen["out"] == [], seen
    assert outside == []


# ------------------------------------------------- item 1: manual grading in formgrader (chromium)


def readme_review_command() -> str:
    text = (ROOT / "README.md").read_text()
    found = [line for line in text.splitlines() if line.startswith("cd grading && ../.venv/bin/jupyter lab")]
    assert len(found) == 1, "the README should give the one command that opens formgrader"
    return found[0]


@pytest.mark.slow
def test_formgrader_lists_names_and_marks_submissions_and_keeps_a_manual_score(graded, tmp_path):
    from nbgrader.api import Gradebook

    archive, workspace, _ = graded
    readme_review_command()  # the documented path: JupyterLab started in the workspace
    sb, sync_playwright = _browser_tools()
    from browser.student import JupyterLab  # noqa: PLC0415 - `jupyter lab` in a folder, on 127.0.0.1 with a token

    db = f"sqlite:///{workspace / 'gradebook.db'}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = ARTIFACTS / "formgrader"
    shots.mkdir(exist_ok=True)
    with JupyterLab(workspace, tmp_path / "lab.log") as lab, sync_playwright() as p:
        browser = sb.launch(p)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            outside: list[str] = []
            sb.block_outside(context, outside)
            page = context.new_page()
            report = sb.PageReport(lab.url)
            sb.watch(page, report)

            page.goto(f"{lab.url}/formgrader?token={lab.token}")  # redirects to Manage Assignments
            page.wait_for_selector("td.num-submissions:has-text('3')", timeout=60000)
            assert "gru" in page.inner_text("table")
            page.screenshot(path=str(shots / "1-manage-assignments.png"), full_page=True)

            page.click("a[href$='/formgrader/gradebook']")  # Manual Grading
            page.click("a[href$='/formgrader/gradebook/gru']")
            page.click("a[href$='/formgrader/gradebook/gru/gru']")
            page.wait_for_selector("td.tests-failed", timeout=60000)
            rows = page.evaluate("""() => Array.from(document.querySelectorAll('tbody tr')).map(r => ({
                name: r.querySelector('td.name a.name-shown') ? r.querySelector('td.name a.name-shown').textContent : '',
                failed: !!r.querySelector('.tests-failed .glyphicon-ok'),
                href: r.querySelector('td.name a.name-shown') ? r.querySelector('td.name a.name-shown').href : ''}))""")
            page.click("#toggle_names") if page.query_selector("#toggle_names") else None
            page.screenshot(path=str(shots / "2-manual-grading-list.png"), full_page=True)
            by_name = {r["name"]: r for r in rows}
            assert set(by_name) == {"Lovelace, Ada", "alan, ", "carol, "}, rows
            assert by_name["Lovelace, Ada"]["failed"] and by_name["carol, "]["failed"]
            assert not by_name["alan, "]["failed"]

            page.goto(by_name["Lovelace, Ada"]["href"])  # one submission, from the list
            page.wait_for_selector("input.score#test_new_state", timeout=60000)
            page.wait_for_function("() => document.querySelectorAll('.MathJax, .MathJax_CHTML, "
                                   ".MathJax_Display, .MathJax_SVG').length > 0", timeout=60000)
            raw_math = page.evaluate("() => document.querySelector('.rendered_html').innerText.includes('$')")
            page.fill("input.score#test_new_state", "0.5")
            page.press("input.score#test_new_state", "Tab")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / "3-submission-manual-score.png"), full_page=False)
        finally:
            browser.close()
    assert outside == [], outside
    # MathJax 2 probes font support with a font-face at about:blank, which the browser refuses: no
    # resource of the page, nothing leaving the machine. Anything else that fails counts.
    problems = [m for m in report.problems() if "about:blank" not in m]
    assert problems == [], problems
    assert not raw_math

    def new_state_grade():
        with Gradebook(db) as gb:
            g = gb.find_grade("test_new_state", "gru", "gru", "Ada_Lovelace")
            return g.manual_score, g.auto_score, g.needs_manual_grade, gb.find_submission("gru", "Ada_Lovelace").score

    manual, auto, _, total = new_state_grade()
    assert (manual, auto) == (0.5, 0.0)
    regraded = _grade(archive, workspace, "--force")
    assert regraded.returncode == 0, regraded.stderr[-2000:]
    assert new_state_grade() == (0.5, 0.0, True, total)  # kept, and flagged for review as nbgrader does
    with open(workspace / "gru-grades.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["student"] == "Ada_Lovelace")
    assert float(row["test_new_state"]) == 0.5 and row["needs_manual_grade"] == "1"
