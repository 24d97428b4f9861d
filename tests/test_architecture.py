"""The package's layout: imports run one way, one owner per idea, small files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aekit
from aekit.cli.main import cli
from aekit.models.registry import KINDS, estimator_class

PACKAGE = Path(aekit.__file__).parent
MODULES = sorted(p for p in PACKAGE.glob("*.py"))


def _aekit_imports(tree: ast.AST, *, top_level: bool) -> set[str]:
    """The aekit modules a file imports, at module level or inside functions."""
    found: set[str] = set()
    nodes = tree.body if top_level else [n for n in ast.walk(tree) if n not in tree.body]
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aekit"):
            found.add(node.module)
            if node.module == "aekit":  # from aekit import distributed, figures ...
                found.update(f"aekit.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("aekit"))
    return {name for name in found if (PACKAGE / f"{name.split('.')[-1]}.py").exists()}


def _graph() -> dict[str, set[str]]:
    return {
        f"aekit.{p.stem}": _aekit_imports(ast.parse(p.read_text()), top_level=True)
        for p in MODULES
        if p.stem not in ("__init__", "__main__")
    }


def test_imports_form_no_cycle():
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for dep in graph.get(name, ()):
            visit(dep, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_no_aekit_module_is_imported_inside_a_function():
    """A lazy import would only hide a cycle (heavy optional packages are another matter)."""
    lazy = {p.name: _aekit_imports(ast.parse(p.read_text()), top_level=False) for p in MODULES}
    assert not {k: v for k, v in lazy.items() if v}


def test_the_package_is_not_imported_from_inside_it():
    for p in MODULES:
        if p.stem in ("__init__", "__main__"):
            continue
        tree = ast.parse(p.read_text())
        names = [n for n in ast.walk(tree) if isinstance(n, ast.Import)]
        assert not any(a.name == "aekit" for n in names for a in n.names), p.name


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_file_is_small_and_its_docstrings_cite_no_outside_documents(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 450
    for phrase in ("SPEC", "STYLE.md", "the notes", "lecture notes"):
        assert phrase not in text, phrase


def test_the_registry_is_the_one_list_of_models():
    assert KINDS == ("pca", "linear", "ae", "dae", "vae")
    assert set(aekit.__all__) >= {cls.__name__ for cls in ESTIMATORS.values()}
    choices = next(p for p in cli.commands["train"].params if p.name == "kind").type.choices
    assert tuple(choices) == KINDS
    for kind in KINDS:
        assert kind_of(estimator_class(kind)()) == kind
    with pytest.raises(ValueError, match="unknown model kind"):
        estimator_class("gan")
