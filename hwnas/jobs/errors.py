"""Errors of the jobs: bad input a user can correct, reported without a traceback."""


class JobInputError(ValueError):
    """A job argument or input file that cannot be used; the message says what to change."""
