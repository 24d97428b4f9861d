"""User-facing errors, each carrying one clear sentence, and notes about the data."""

from __future__ import annotations


class AekitError(ValueError):
    """An error caused by the user's input, data or files.

    Its message is one sentence meant for the user; the CLI prints it and exits
    with code 2 without a traceback. It subclasses ``ValueError`` so that
    scikit-learn's conventions (bad input raises ``ValueError``) hold.
    """


class DataError(AekitError):
    """Data that cannot be read or used: bad values, shapes or file contents."""


class NonNumericDataError(DataError, TypeError):
    """Data whose values are not numbers (strings, objects)."""


class RunFileError(AekitError):
    """A run directory or a file in it that is missing, truncated or tampered with."""


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


class DataNote(UserWarning):
    """Something aekit did to the user's data that they should know of (one line)."""


def one_line(exc: BaseException) -> str:
    """An exception's message, on one line and not too long."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
