"""The exercise sources: the files an instructor edits, one module per assignment.

A module ``<a>.py`` holds ``HIDDEN_SEED`` (the seed of the hidden suite; the visible one uses 0)
and ``build(nb)``, which adds the notebook's cells in order to an :class:`authoring.notebook.Builder`.
After editing one, run ``make exercises``: it writes ``solutions/<a>/<a>.ipynb`` and releases
``exercises/<a>/``. The points and grade ids of the test cells come from the grading spec,
``autograder/assignments/<a>.py``.
"""
