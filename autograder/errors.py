"""The one exception a grading run raises for a user's mistake: the CLI prints its message on one
line and exits with status 2, never a traceback."""


class UserError(Exception):
    """Bad input or a busy resource, with a message that says what is wrong and what to do."""
