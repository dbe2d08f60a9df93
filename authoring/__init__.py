"""Exercise authoring: the sources of the four nbgrader assignments and the steps that turn them
into ``solutions/`` (nbgrader's source notebooks) and ``exercises/`` (the releases).

``authoring/sources/<a>.py`` is the one file an instructor edits for assignment ``<a>``; the points
and grade ids of its test cells come from the grading spec, ``autograder/assignments/<a>.py``.
``make exercises`` (``python -m authoring``) regenerates everything from them.
"""
