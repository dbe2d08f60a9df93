"""The grading pipeline: collect, sanitize, run in a sandbox, judge, record, export.

``python -m autograder grade <assignment> --submissions PATH`` (see :mod:`autograder.cli`).
"""
