"""nbgrader configuration of the course: sources in solutions/, releases in exercises/.

Run nbgrader from the project root (``make exercises`` does): ``nbgrader generate_assignment gru``.
The gradebook and everything a class produces live under ``grading/`` (ignored by git).
"""
import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "grading", "gradebook.db")
# Only the notebook travels with an assignment; nothing else in solutions/<a>/ is released.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Torch needs a few seconds to import; the slowest test cell (gradcheck, a layer) takes about 2 s.
c.Execute.timeout = 120
# A cell tagged with this is skipped (and a skipped test cell would score full marks): use a tag no
# student would write, instead of nbclient's default "skip-execution".
c.Execute.skip_cells_with_tag = "gated-instructor-skip-4f1c9e"

# Warnings printed to stderr (torch and numpy emit UserWarnings) must not fail a test cell.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[A-Za-z]*Warning"
