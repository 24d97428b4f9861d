"""A run's configuration as a YAML file: ``train.yaml`` in every run folder, in the
words of ``aekit train``'s options, so that ``aekit train --config RUN/train.yaml``
trains the same model on the same data again.

The file holds the resolved configuration: every option of ``aekit train`` that says
what is trained and on which data, each with the value the run used (``null``: the
kind's default, which the estimator chooses when it fits). Where the run goes
(``out``, ``overwrite``, ``resume``), how it talks (``quiet``) and whether it is
tracked (``mlflow``, ``mlflow_experiment``) are left out. An
option is the estimator parameter of the same name unless :data:`RENAMED` (or, for
PCA, :data:`PCA_RENAMED`) says otherwise; the estimator parameters that have no
option (:data:`NO_OPTION`: the user's own networks, threads, PCA's solver details)
are not in the file, which says so in a comment when a run set one.

Examples
--------
>>> from aekit.data.sources import DataSpec
>>> from aekit.models.pca import PCA
>>> config = run_config("pca", DataSpec("digits"), PCA(4).get_params())
>>> config["kind"], config["latent_dim"], config["seed"]
('pca', 4, None)
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from aekit.errors import AekitError
from aekit.storage.safe_files import atomic_write_bytes, read_regular_file

# options whose estimator parameter has another name; every other model option is
# the parameter of the same name (PCA calls the code size n_components)
RENAMED = {"seed": "random_state", "kl_warmup": "kl_warmup_epochs", "column_type": "column_types"}
PCA_RENAMED = {**RENAMED, "latent_dim": "n_components"}
# estimator parameters that ``aekit train`` has no option for
NO_OPTION = frozenset(
    {"encoder", "decoder", "n_threads", "verbose", "validation_fraction"}
    | {"dtype", "n_oversamples", "n_power_iter"}  # PCA's solver details
)
# the options that say where the data come from and how they are split: DataSpec's fields
DATA_FIELDS = {
    "data": "source",
    "data_dir": "data_dir",
    "val_fraction": "val_fraction",
    "test_fraction": "test_fraction",
    "split_seed": "split_seed",
    "image_size": "image_size",
    "channels": "channels",
    "label_column": "label_column",
}


def renamed(kind: str) -> dict[str, str]:
    """The options of ``kind`` whose estimator parameter has another name."""
    return PCA_RENAMED if kind == "pca" else RENAMED


def run_config(
    kind: str,
    data: Any,
    params: dict[str, Any],
    *,
    tensorboard: bool = False,
    compile: bool = False,
    precision: str = "float32",
) -> dict[str, Any]:
    """The configuration of a run of ``kind`` on ``data`` (its
    :class:`~aekit.data.sources.DataSpec`) of a model with the estimator parameters
    ``params`` (``get_params()``), keyed by option names."""
    options = {parameter: option for option, parameter in renamed(kind).items()}
    config: dict[str, Any] = {"kind": kind}
    described = asdict(data)
    config.update({option: described[field] for option, field in DATA_FIELDS.items()})
    config.update({"tensorboard": tensorboard, "compile": compile, "precision": precision})
    model = {options.get(n, n): v for n, v in params.items() if n not in NO_OPTION}
    config.update(sorted(model.items()))
    return {key: _plain(value) for key, value in config.items()}


def _plain(value: Any) -> Any:
    """A value as YAML writes it plainly: tuples as lists."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def left_out(params: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """The parameters in ``params`` without an option that differ from ``defaults``."""
    return sorted(n for n in NO_OPTION & set(params) if params[n] != defaults.get(n))


class _Dumper(yaml.SafeDumper):
    """YAML in blocks, but a list on one line (``hidden: [512, 256]``)."""


_Dumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True)
)


def config_yaml(config: dict[str, Any], *, not_repeated: list[str] = ()) -> str:
    """``config`` as the text of a YAML file, with a comment naming what it leaves out."""
    head = "# aekit train --config FILE: the options of the run (null: the kind's default)\n"
    if not_repeated:
        head += f"# set from Python and not repeated by this file: {', '.join(not_repeated)}\n"
    return head + yaml.dump(
        config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def write_config(path: str | Path, config: dict[str, Any], *, not_repeated: list[str] = ()) -> None:
    """Write ``config`` to the YAML file ``path``, atomically."""
    text = config_yaml(config, not_repeated=not_repeated)
    atomic_write_bytes(path, text.encode("utf-8"))


def read_config(path: str | Path) -> dict[str, Any]:
    """The mapping of options in the YAML file ``path`` (an empty file is empty)."""
    try:
        text = read_regular_file(path).decode("utf-8")
        config = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise AekitError(f"cannot read {path}: it is not UTF-8 text.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise AekitError(f"cannot read {path}: it is not valid YAML{where}.") from None
    if config is None:
        return {}
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise AekitError(f"{path} must be a YAML mapping of option names to values.")
    return config
