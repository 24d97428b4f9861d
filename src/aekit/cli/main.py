"""The ``aekit`` command line: its entry point and the table of its commands.

Every failure caused by the user (bad options, bad data, bad run folders) ends
with one sentence on stderr and exit code 2, never a traceback.

Each command lives in a module of its own that is imported when the command runs,
so that ``aekit --help`` and ``aekit --version`` import neither torch nor
scikit-learn: the list of commands reads each one's first docstring line from the
module's source instead of importing it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import click

from aekit.cli.exit import run_command

# each command's "module:function"; the module is imported when the command is used
COMMANDS = {
    "train": "aekit.cli.train:train",
    "evaluate": "aekit.cli.evaluate:evaluate_command",
    "report": "aekit.cli.evaluate:report",
    "reconstruct": "aekit.cli.draw:reconstruct",
    "sample": "aekit.cli.draw:sample",
    "interpolate": "aekit.cli.draw:interpolate",
    "score": "aekit.cli.score:score_command",
    "detect": "aekit.cli.detect:detect",
    "export": "aekit.cli.export:export_command",
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name from :data:`COMMANDS` when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, function = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(module), function)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, short_help(name, limit)) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def short_help(name: str, limit: int = 45) -> str:
    """The first sentence of command ``name``'s docstring, read from its module's
    source without importing it (what click would show once it is imported)."""
    module, function = COMMANDS[name].split(":")
    source = Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")
    node = next(
        n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == function
    )
    return click.Command(name, help=ast.get_docstring(node)).get_short_help_str(limit)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aekit")
@click.option(
    "--threads",
    type=click.IntRange(1, 4096),
    help="CPU threads of every computation (default: torch's, at most the CPUs this "
    "process may use: affinity and container quota).",
)
def cli(threads: int | None) -> None:
    """aekit: autoencoders from PCA to VAEs, with honest evaluation."""
    # each command sets the threads when it runs (options.AekitCommand): that needs torch


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; user errors become one sentence and exit code 2."""
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
