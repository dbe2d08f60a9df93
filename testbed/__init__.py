"""Synthetic classes for testing and measuring the grader: submissions filled in from the
solutions (:mod:`testbed.submissions`), planted mistakes (:mod:`testbed.mistakes`), the hostile
corpus (:mod:`testbed.corpus`) and the grading throughput against stock nbgrader
(:mod:`testbed.throughput`, ``make bench-grade``)."""
