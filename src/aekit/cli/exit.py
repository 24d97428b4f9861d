"""How the ``aekit`` command line ends: exit codes and one-sentence messages.

Every failure caused by the user (bad options, bad data, bad run folders, paths
that cannot be written) ends with one sentence on stderr and exit code 2, never a
traceback; a diverged training exits with 3, Ctrl-C with 130.
"""

from __future__ import annotations

import warnings

import click

from aekit.errors import AekitError, DataNote, TrainingDivergedError


def echo_err(message: str) -> None:
    """One line on stderr."""
    click.echo(message, err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Notes about the user's data as one line each; other warnings as usual."""
    if issubclass(category, DataNote):
        echo_err(f"aekit: note: {message}")
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def run_command(command: click.Command, argv: list[str] | None) -> int:
    """Run ``command``; notes about the data print as one line each."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _exit_code(command, argv)


def _exit_code(command: click.Command, argv: list[str] | None) -> int:
    """Run ``command`` and map each kind of failure to its exit code and one sentence:
    2 for the user's input, data, files and paths, 3 for divergence, 130 for Ctrl-C."""
    try:
        result = command.main(args=argv, prog_name="aekit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        echo_err(f"aekit: error: {exc.format_message()}")
        return 2
    except click.ClickException as exc:
        echo_err(f"aekit: error: {exc.format_message()}")
        return 2
    except (AekitError, ValueError) as exc:
        echo_err(f"aekit: error: {exc}")
        return 2
    except TrainingDivergedError as exc:
        echo_err(f"aekit: error: {exc}")
        return 3
    except OSError as exc:  # a path that cannot be written or read: the user's to fix
        where = f" {exc.filename}" if exc.filename else ""
        echo_err(f"aekit: error: cannot use{where}: {exc.strerror or exc}.")
        return 2
    except (KeyboardInterrupt, click.exceptions.Abort):
        echo_err(
            "aekit: interrupted; a run that reached a checkpoint continues with --resume, "
            "and a finished run it was replacing is kept."
        )
        return 130
    return result if isinstance(result, int) else 0
