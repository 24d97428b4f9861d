"""The model card of a run: ``README.md`` in every run folder, so that the folder can
be handed on (or published on a model hub as it is) with a page that says what it is.

The card says what was trained (kind, network, parameters, data and split, seeds),
how well (the test metrics that ``aekit evaluate`` prints, each with its unit, beside
PCA of the same code size), what it is for and what it is not, and how to load it.
Its YAML front matter follows the Hugging Face model-card conventions
(``library_name``, ``license``, ``pipeline_tag``, ``tags``, ``datasets``, ``metrics``
and a ``model-index`` with the test results); its body names the aekit version and
source commit that trained it (:mod:`aekit.runs.provenance`).
:func:`aekit.runs.api.train_run` writes it in the run's commit.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from aekit.data.sources import DATASETS, DataBundle
from aekit.models.estimator import AutoencoderEstimator
from aekit.runs.config import config_yaml
from aekit.runs.provenance import declared_license, hub_license, software

# the unit of each evaluation metric (a name ending in _nats is in nats per example)
UNITS = {
    "n": "examples",
    "mse": "squared data units per value",
    "psnr_db": "dB (peak value 1)",
    "latent_dim": "code size d",
    "eckart_young_bound_mse": "squared data units per value",
    "pca_mse": "squared data units per value",
    "mse_scaled": "squared scaled units per value",
    "pca_mse_scaled": "squared scaled units per value",
    "nll_samples": "importance samples K",
}
NOT_MEASURED = ("n", "latent_dim", "nll_samples")  # numbers among the metrics that say how
DESCRIPTIONS = {
    "mse": "mean squared reconstruction error",
    "psnr_db": "peak signal-to-noise ratio of the reconstructions",
    "eckart_young_bound_mse": "least error of any rank-d linear reconstruction of these examples",
    "pca_mse": "PCA with d components fitted on the training split",
    "mse_scaled": "reconstruction error in the model's scaled units",
    "pca_mse_scaled": "PCA's error in the model's scaled units",
    "log_likelihood_nats": "importance-sampled log p(x)",
}


def unit(name: str, metrics: dict[str, Any]) -> str:
    """The unit of the metric ``name`` of ``metrics``."""
    if name == "score":
        return str(metrics.get("score_measures", ""))
    if name.endswith("_nats") or name.startswith("log_likelihood"):
        return "nats per example"
    if "bits_per_dim" in name:
        return "bits per dimension"
    return UNITS.get(name, "")


def front_matter(
    kind: str, model: AutoencoderEstimator, bundle: DataBundle, metrics: dict[str, Any]
) -> dict[str, Any]:
    """The card's YAML front matter (Hugging Face model-card keys)."""
    scalars = _scalar_metrics(metrics)
    tags = ["aekit", "autoencoder", kind, "pytorch", "image" if bundle.is_image else "tabular"]
    dataset = {"name": bundle.name, "type": bundle.name, "split": "test"}
    card: dict[str, Any] = {
        "library_name": "aekit",
        "license": hub_license(declared_license()),  # aekit's own (see the card's text)
        "pipeline_tag": "feature-extraction",  # a model that gives codes of its input
        "tags": tags,
    }
    if bundle.name in DATASETS:
        card["datasets"] = [bundle.name]
    card["metrics"] = list(scalars)
    card["model-index"] = [
        {
            "name": f"aekit-{kind}-{_short_name(bundle.name)}",
            "results": [
                {
                    "task": {"type": "feature-extraction", "name": "Autoencoding"},
                    "dataset": dataset,
                    "metrics": [{"type": k, "name": k, "value": v} for k, v in scalars.items()],
                }
            ],
        }
    ]
    return card


def _short_name(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1]


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics, in the order ``evaluate`` gives them."""
    return {  # as Python numbers: YAML cannot write NumPy's (a float64 is a float too)
        k: float(v) if isinstance(v, float) else int(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in NOT_MEASURED
    }


def model_card(
    name: str,
    config: dict[str, Any],
    model: AutoencoderEstimator,
    bundle: DataBundle,
    metrics: dict[str, Any],
    n_weights: int,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """The text of the model card of the run folder ``name``: ``config`` is its
    resolved configuration (``train.yaml``), ``metrics`` its test metrics,
    ``n_weights`` the numbers in its saved model, ``history`` its per-epoch record."""
    kind = config["kind"]
    head = yaml.safe_dump(front_matter(kind, model, bundle, metrics), sort_keys=False)
    sizes = ", ".join(f"{s} {len(getattr(bundle, s).X)}" for s in ("train", "val", "test"))
    lines = [
        "---",
        head.rstrip(),
        "---",
        "",
        f"# {name}: {type(model).__name__} ({kind}), trained with aekit",
        "",
        "## What was trained",
        "",
        f"- Model: `aekit.{type(model).__name__}`, code size d = {model.code_size}, "
        f"{n_weights:,} numbers in `model.safetensors`.",
        f"- Data: `{bundle.name}`, examples of shape {tuple(bundle.sample_shape)}; "
        f"split train/val/test = {sizes} (fractions val {config['val_fraction']}, "
        f"test {config['test_fraction']}, split seed {config['split_seed']}).",
        f"- Seeds: model `seed` {config.get('seed')}, split seed {config['split_seed']}.",
        _software_line(),
        "- Options (the run's `train.yaml`; `null`: the kind's default):",
        "",
        "```yaml",
        config_yaml(config).rstrip(),
        "```",
        "",
    ]
    network = getattr(model, "module_", None)
    if network is not None:
        lines += ["Network:", "", "```", str(network), "```", ""]
    lines += _metrics_section(metrics, history)
    lines += _use_section(name, bundle, metrics)
    return "\n".join(lines) + "\n"


def _software_line() -> str:
    """The versions that trained the model, and what its ``license`` is."""
    made = software()
    commit = f"commit `{made['commit']}`" if made["commit"] else "not from a git checkout"
    declared = declared_license() or "none declared"
    return (
        f"- Trained with aekit {made['aekit']} ({commit}) on torch {made['torch']}. "
        f"`license` is aekit's ({declared}); the training data's own terms apply too."
    )


def _metrics_section(metrics: dict[str, Any], history: list[dict[str, Any]] | None) -> list[str]:
    if "pca_mse" in metrics:
        reference = (
            "`pca_mse` is the reference: PCA with the same code size d, fitted on the "
            "training split; `eckart_young_bound_mse` is the least error any rank-d linear "
            "reconstruction can have."
        )
    elif "columns" in metrics:
        reference = (
            "Each column's reference is the training split's mean (`mean_mse`) or its most "
            "frequent level (`majority_accuracy`)."
        )
    else:  # a code as large as the data: no linear code of its size loses anything
        reference = "No PCA reference: the code is not smaller than the data's rank."
    lines = [
        "## Evaluation",
        "",
        f"On the {metrics.get('split', 'test')} split ({metrics.get('n')} examples), "
        f"as `aekit evaluate` prints them. {reference}",
        "",
        "| metric | value | unit | what |",
        "| --- | --- | --- | --- |",
    ]
    for key in ("latent_dim", "nll_samples"):
        if key in metrics:
            lines.append(f"| {key} | {metrics[key]!r} | {UNITS[key]} | |")
    for key, value in _scalar_metrics(metrics).items():
        lines.append(f"| {key} | {value!r} | {unit(key, metrics)} | {DESCRIPTIONS.get(key, '')} |")
    columns = metrics.get("columns")
    if columns:
        lines += ["", "Per column of the table:", "", "```json", json.dumps(columns, indent=1)]
        lines += ["```"]
    if history:
        last = {k: v for k, v in history[-1].items() if k != "seconds"}
        lines += ["", f"Last training epoch (of {len(history)}; `metrics.json` has every one):"]
        lines += ["", "```json", json.dumps(last), "```"]
    return [*lines, ""]


def _use_section(name: str, bundle: DataBundle, metrics: dict[str, Any]) -> list[str]:
    density = "score" in metrics and "nats" in str(metrics.get("score_measures", ""))
    limits = [
        f"- The numbers above hold for the test split of `{bundle.name}` as this run read "
        "and split it; the model is not calibrated for other data.",
    ]
    if density:
        limits.append(
            f"- Its log-densities are in nats per example of `{bundle.name}` as the model "
            "saw it (scaled, binarised or dequantised as its options say), not of other data."
        )
    limits.append(
        "- Outlier scores and thresholds (`aekit score`) are relative to the training data; "
        "check them on labelled examples of your own before acting on them."
    )
    return [
        "## Intended use and limits",
        "",
        "Codes (`transform`), reconstructions, samples and outlier scores of data like "
        "its training data; teaching, and comparison with PCA.",
        "",
        *limits,
        "",
        "## How to load it",
        "",
        "```python",
        "import aekit",
        f'model = aekit.load("{name}")  # this folder',
        "Z = model.transform(X)        # codes; X shaped like the training examples",
        "X_hat = model.inverse_transform(Z)",
        "```",
        "",
        f"or `aekit evaluate {name}`; `aekit train --config {name}/train.yaml --out NEW` "
        "trains it again.",
    ]
