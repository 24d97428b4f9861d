"""The package's layout: layers that import only downward, few floors, no cycle, one
owner per idea, and kinds asked of their classes."""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest

import aekit
from aekit.cli.main import cli
from aekit.models.estimator import ESTIMATORS
from aekit.models.registry import KINDS, estimator_class

PACKAGE = Path(aekit.__file__).parent
REPO = PACKAGE.parents[1]
MODULES = sorted(PACKAGE.rglob("*.py"))
# the layers, lowest first: each imports only itself and the layers before it
LAYERS = ("base", "core", "data", "storage", "training", "models", "runs", "cli")
BASE = {"aekit.errors", "aekit.validation"}  # one-sentence errors and checks, used by all
# public names over the layers: they may import any layer; no module imports them
FACADES = {"aekit", "aekit.__main__", "aekit.export"}
MAX_FLOORS = 9
LONG_FILE = 500  # lines; a longer file says why in its docstring ("One file because ...")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(p): p for p in MODULES}


def layer_of(name: str) -> str:
    if name in BASE:
        return "base"
    return name.split(".")[1]


def imports_of(path: Path, *, top_level: bool = True) -> set[str]:
    """The aekit modules ``path`` imports (a name imported from a package is the
    submodule when there is one), at module level or only inside functions."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level else [n for n in ast.walk(tree) if n not in tree.body]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aekit"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in NAMES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("aekit"))
    itself = module_name(path) if path.is_relative_to(PACKAGE) else None
    return {name for name in found if name in NAMES} - {itself}


def graph() -> dict[str, set[str]]:
    nodes = {module_name(p): imports_of(p) for p in MODULES}
    for script in sorted((REPO / "bench").glob("*.py")):  # what runs the package counts too
        nodes[f"bench.{script.stem}"] = imports_of(script)
    return nodes


def floors(nodes: dict[str, set[str]]) -> dict[str, int]:
    """Each module's floor: 1 + the highest floor it imports (1 for a leaf)."""
    done: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> int:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name not in done:
            done[name] = 1 + max((visit(d, (*path, name)) for d in nodes[name]), default=0)
        return done[name]

    for name in nodes:
        visit(name, ())
    return done


def test_at_most_eight_modules_stay_at_the_top():
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= 8, top
    assert set(LAYERS[1:]) <= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


def test_every_module_sits_in_a_layer():
    for name in NAMES:
        assert name in FACADES or layer_of(name) in LAYERS, name


@pytest.mark.parametrize("name", sorted(set(NAMES) - FACADES))
def test_each_layer_imports_only_itself_and_the_layers_below(name):
    here = LAYERS.index(layer_of(name))
    for imported in imports_of(NAMES[name]):
        assert imported not in FACADES, f"{name} imports the facade {imported}"
        there = LAYERS.index(layer_of(imported))
        assert there <= here, f"{name} ({LAYERS[here]}) imports {imported} ({LAYERS[there]})"


def test_imports_form_no_cycle_and_at_most_nine_floors():
    levels = floors(graph())
    top = max(levels.values())
    assert top <= MAX_FLOORS, sorted(levels.items(), key=lambda kv: -kv[1])[:5]


def test_no_aekit_module_is_imported_inside_a_function():
    """A lazy import would only hide a cycle (heavy optional packages are another matter)."""
    lazy = {module_name(p): imports_of(p, top_level=False) for p in MODULES}
    assert not {k: v for k, v in lazy.items() if v}


def test_the_package_is_not_imported_from_inside_it():
    for path in MODULES:
        if module_name(path) in FACADES:
            continue
        tree = ast.parse(path.read_text())
        names = [n for n in ast.walk(tree) if isinstance(n, ast.Import)]
        assert not any(a.name == "aekit" for n in names for a in n.names), path.name


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_a_long_file_says_why_and_docstrings_cite_no_outside_documents(path):
    text = path.read_text()
    if len(text.splitlines()) > LONG_FILE:
        assert "One file because" in (ast.get_docstring(ast.parse(text)) or ""), path.name
    for phrase in ("SPEC", "STYLE.md", "the notes", "lecture notes"):
        assert phrase not in text, phrase


def test_the_registry_is_the_one_list_of_models_and_each_class_names_its_kind():
    assert KINDS == ("pca", "linear", "ae", "dae", "vae", "vqvae")
    assert set(ESTIMATORS) == set(KINDS)
    assert set(aekit.__all__) >= {cls.__name__ for cls in ESTIMATORS.values()}
    train = cli.get_command(click.Context(cli), "train")  # commands load when used
    choices = next(p for p in train.params if p.name == "kind").type.choices
    assert tuple(choices) == KINDS
    for kind in KINDS:
        assert estimator_class(kind).kind == kind
        assert estimator_class(kind)().score_measure
    with pytest.raises(ValueError, match="unknown model kind"):
        estimator_class("gan")


def _kind_keyed_tables(path: Path) -> list[int]:
    """Lines of dict literals keyed by two or more model kinds."""
    tree = ast.parse(path.read_text())
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        and sum(isinstance(k, ast.Constant) and k.value in KINDS for k in node.keys) >= 2
    ]


def _isinstance_of_estimators(path: Path) -> list[int]:
    """Lines that ask ``isinstance(x, SomeEstimator)`` of a concrete model class."""
    classes = {cls.__name__ for cls in ESTIMATORS.values()}
    tree = ast.parse(path.read_text())
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "isinstance"
        and any(isinstance(n, ast.Name) and n.id in classes for n in ast.walk(node.args[1]))
    ]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_what_differs_by_kind_is_asked_of_the_class(path):
    assert not _kind_keyed_tables(path), "a table keyed by model kinds"
    assert not _isinstance_of_estimators(path), "isinstance on a model class"


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The two AST checks above find a kind-keyed table and an isinstance branch."""
    sample = tmp_path / "sample.py"
    sample.write_text('M = {"pca": 1, "vae": 2}\nif isinstance(m, VAE):\n    pass\n')
    assert _kind_keyed_tables(sample) == [1] and _isinstance_of_estimators(sample) == [2]


@pytest.mark.parametrize(
    "idea",
    [
        "LOG_2PI = ",  # one constant
        "def diagonal_log_density(",  # one Gaussian log-density
        "def resolve_device(",  # one device resolver
        "class FeatureScaling(",  # one feature scaling
        "def log_weights(",  # the importance weights, formed by the module alone
    ],
)
def test_one_owner_per_idea(idea):
    owners = [module_name(p) for p in MODULES if idea in p.read_text()]
    assert len(owners) == 1, owners
