"""Saving and restoring fitted models: ``config.json`` + ``model.safetensors``.

The config names the estimator class, its parameters and its fitted attributes;
the weights are safetensors. Both files carry checksums (see
:mod:`aekit.storage.safe_files`). The class is looked up by :func:`aekit.load` in the
fixed table of :mod:`aekit.models.registry`, never imported by name from the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.errors import RunFileError
from aekit.storage.safe_files import (
    load_tensors,
    read_json,
    read_regular_file,
    save_tensors,
    write_json,
)

MODEL_CONFIG = "config.json"
MODEL_WEIGHTS = "model.safetensors"

USER_MODULE = "user_module"  # how config.json marks a parameter that was the user's network
FORMAT = "aekit-model"
FORMAT_VERSION = 1


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, torch.nn.Module):  # a user's network: its weights are saved, not its code
        return {USER_MODULE: type(value).__name__}
    return value


def save_model(model: Any, path: str | Path) -> Path:
    """Write ``model`` (fitted) to the folder ``path``; returns the folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors, fitted = model._export()
    save_tensors(path / MODEL_WEIGHTS, tensors)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": type(model).__name__,
        "params": _jsonable(model.get_params()),
        "fitted": _jsonable(fitted),
        # the pair is consistent only with these weights: a save cut between the two
        # files, or weights copied from another save, is refused at load
        "weights_sha256": _digest(path / MODEL_WEIGHTS),
    }
    write_json(path / MODEL_CONFIG, config)
    return path


def _put_user_modules(params: dict[str, Any], modules: dict[str, Any], path: Path) -> None:
    """Replace the saved marks of user networks by the modules given for them."""
    for name, value in params.items():
        saved = isinstance(value, dict) and USER_MODULE in value
        given = modules.get(name)
        if saved and given is None:
            marked = {k: v for k, v in params.items() if isinstance(v, dict) and USER_MODULE in v}
            wanted = ", ".join(f"{k}=<a {marked[k][USER_MODULE]}>" for k in sorted(marked)[::-1])
            raise RunFileError(
                f"{path} was trained with your own networks; load it with aekit.load(path, "
                f"{wanted}), built as when it was trained."
            )
        if saved:
            params[name] = given
    unused = sorted(
        name
        for name, given in modules.items()
        if given is not None and not (isinstance(params.get(name), torch.nn.Module))
    )
    if unused:
        raise RunFileError(f"{path} was not trained with your own {' or '.join(unused)}.")


def _digest(path: Path) -> str:
    return hashlib.sha256(read_regular_file(path)).hexdigest()


def read_config(path: str | Path) -> dict[str, Any]:
    """The verified ``config.json`` of a saved model or run folder."""
    path = Path(path)
    if not path.is_dir():
        raise RunFileError(f"{path} is not a folder holding a saved aekit model.")
    if not (path / MODEL_CONFIG).exists():
        raise RunFileError(f"{path} holds no {MODEL_CONFIG}; it is not a saved aekit model.")
    config = read_json(path / MODEL_CONFIG)
    if config.get("format") != FORMAT:
        raise RunFileError(f"{path / MODEL_CONFIG} is not an aekit model config.")
    if config.get("format_version") != FORMAT_VERSION:
        raise RunFileError(
            f"{path / MODEL_CONFIG} has format version {config.get('format_version')!r}; "
            f"this aekit reads version {FORMAT_VERSION}."
        )
    return config


def restore_model(
    classes: dict[str, type],
    path: str | Path,
    device: str | None = None,
    modules: dict[str, Any] | None = None,
) -> Any:
    """The model saved in the folder ``path``, its class taken from ``classes``
    (class name → class); ``device`` overrides the saved ``device`` parameter;
    ``modules`` gives the user's networks (parameter name → module) a model was
    trained with, into which the saved weights are loaded."""
    path = Path(path)
    config = read_config(path)
    cls = classes.get(config.get("model"))
    if cls is None:
        raise RunFileError(f"{path / MODEL_CONFIG} names an unknown model {config.get('model')!r}.")
    params, fitted = config.get("params"), config.get("fitted")
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise RunFileError(f"{path / MODEL_CONFIG} lacks the model's parameters or fitted state.")
    accepted = set(cls().get_params())
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise RunFileError(
            f"{path / MODEL_CONFIG} names unknown {cls.__name__} parameters {unknown}."
        )
    params = dict(params)
    _put_user_modules(params, modules or {}, path)
    if params.get("hidden") is not None:
        params["hidden"] = tuple(params["hidden"])
    if device is not None and "device" in accepted:  # an OutlierDetector computes on the CPU
        params["device"] = device
    tensors, _ = load_tensors(path / MODEL_WEIGHTS)  # its own checksum first
    if config.get("weights_sha256") != _digest(path / MODEL_WEIGHTS):
        raise RunFileError(
            f"{path} holds weights that are not the ones its {MODEL_CONFIG} was saved with "
            "(an interrupted save, or files from two saves)."
        )
    broken = sorted(
        k for k, t in tensors.items() if t.is_floating_point() and not t.isfinite().all()
    )
    if broken:
        raise RunFileError(
            f"{path / MODEL_WEIGHTS} holds NaN or infinite values (in {broken[0]}); "
            "a model that computes nothing finite is refused."
        )
    try:
        model = cls(**params)
        model._restore(fitted, tensors)
    except RunFileError:
        raise
    except KeyError as exc:
        raise RunFileError(f"{path / MODEL_CONFIG} lacks the fitted value {exc}.") from None
    except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "state_dict" in first:
            first = "its weights do not fit the networks its config describes"
        raise RunFileError(
            f"{path} does not hold a consistent {cls.__name__}: {first.rstrip(':.')}."
        ) from None
    return model
