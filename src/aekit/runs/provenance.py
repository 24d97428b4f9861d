"""Which code made a run: the aekit version, its source commit where aekit runs from a
git checkout, and the licence aekit's package metadata declares (as the Hugging Face
identifier a model card's ``license`` takes).

Examples
--------
>>> import aekit
>>> software()["aekit"] == aekit.__version__  # where aekit is installed
True
>>> hub_license("MIT"), hub_license("Apache-2.0"), hub_license("Proprietary"), hub_license(None)
('mit', 'apache-2.0', 'other', 'other')
"""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import PackageNotFoundError, metadata, version
from pathlib import Path

import torch

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # aekit/
# licence identifiers of the Hugging Face Hub that a package's licence may name
HUB_LICENSES = (
    "mit", "apache-2.0", "bsd-2-clause", "bsd-3-clause", "gpl-2.0", "gpl-3.0",
    "lgpl-2.1", "lgpl-3.0", "agpl-3.0", "mpl-2.0", "unlicense",
)  # fmt: skip


def hub_license(declared: str | None) -> str:
    """The Hub's identifier of the licence ``declared`` (an SPDX name such as ``MIT``),
    or ``"other"``."""
    name = (declared or "").strip().lower()
    return name if name in HUB_LICENSES else "other"


def declared_license() -> str | None:
    """The licence in aekit's installed package metadata (``License-Expression`` or
    ``License``), or None when aekit is not installed."""
    try:
        meta = metadata("aekit")
    except PackageNotFoundError:
        return None
    return meta.get("License-Expression") or meta.get("License")


def source_commit() -> str | None:
    """The git commit of the checkout aekit runs from (``+dirty`` with uncommitted
    changes), or None where it is not one (an installed wheel, no git)."""

    # no optional locks: `git status` would otherwise take .git/index.lock to refresh the
    # index, and a commit the user makes at that moment would fail
    environment = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(PACKAGE_DIR), *args], capture_output=True,
                              text=True, timeout=10, check=True, env=environment)  # fmt: skip
        return done.stdout.strip()

    try:  # aekit's own files must be tracked: not a venv inside someone else's repository
        git("ls-files", "--error-unmatch", "__init__.py")
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def aekit_version() -> str:
    """aekit's version as its package metadata gives it (what ``pip`` would install)."""
    try:
        return version("aekit")
    except PackageNotFoundError:
        return "unknown (not installed)"


def software() -> dict[str, str | None]:
    """The versions that made a run: ``aekit``, its ``commit`` (or None), ``torch``."""
    return {"aekit": aekit_version(), "commit": source_commit(), "torch": torch.__version__}
