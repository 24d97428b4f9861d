"""The neural estimators on mixed tables: a DataFrame in, a DataFrame out.

Fitted on a DataFrame with a text column, a missing cell or ``column_types``
(:func:`aekit.data.tables.is_table`), :class:`Autoencoder`, :class:`DenoisingAutoencoder`
and :class:`VAE` infer the table's columns (``table_``; one line per column on
stderr unless ``verbose`` is false), train on its tensor (:mod:`aekit.core.tables`) with the
per-column likelihood, and return DataFrames: ``reconstruct`` (every cell at its
most likely value), ``impute`` (observed cells kept, missing ones filled),
``inverse_transform`` and ``sample``. ``score_samples`` is the total
log-likelihood in nats (the VAE's: its ELBO), and ``column_log_likelihoods``
each column's part of it. The same parts otherwise: one training loop, one module.

Inside ``fit`` (offsets, kept codes) the estimator meets its own table tensors as
float arrays of shape ``(n, 2C)``; those are taken as they are.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm.auto import tqdm

from aekit.core.corruption import GaussianNoise
from aekit.core.likelihoods import Likelihood
from aekit.core.networks import DEFAULT_HIDDEN, MLPDecoder, MLPEncoder
from aekit.core.tables import MixedLikelihood, TableCorruption, TableEncoder, TableInput
from aekit.data.tables import Table, is_table
from aekit.errors import DataError
from aekit.models.outliers import shares_of
from aekit.models.table_explanations import repair_gains, tried_values
from aekit.validation import check_data


class TableMixin:
    """Mixed-table support of the neural estimators (placed before
    :class:`~aekit.models.neural.NeuralAutoencoder` among the bases)."""

    table_: Table | None = None

    @property
    def _table(self) -> Table | None:
        return getattr(self, "table_", None)

    # -- fitting ---------------------------------------------------------------------
    def _validate_params(self) -> None:
        super()._validate_params()
        types = self.column_types
        if types is not None and not (
            isinstance(types, dict) and all(isinstance(k, str) for k in types)
        ):
            raise ValueError(
                f"column_types must be a dict from column names to kinds; got {types!r}."
            )

    def fit(self, X: Any, y: Any = None, *, X_val: Any = None, **options: Any):
        self._validate_params()
        if not is_table(X, self.column_types):
            self.table_ = None
            return super().fit(X, y, X_val=X_val, **options)
        self._refuse_for_tables()
        table = Table.fit(X, self.column_types)
        if self.verbose is None or self.verbose:  # None, the default, shows the inference
            for line in table.summary():
                tqdm.write(line, file=sys.stderr)
        self.table_ = table
        packed = table.encode(X)
        val = None if X_val is None else table.encode(X_val, what="X_val")
        super().fit(packed, y, X_val=val, **options)
        self.feature_names_in_ = np.asarray(table.names, dtype=object)
        return self

    def _refuse_for_tables(self) -> None:
        """Options that have no meaning on a mixed table, refused in one sentence."""
        if self.encoder is not None or self.decoder is not None:
            raise ValueError("own encoder= / decoder= networks do not take mixed tables yet.")
        if self.architecture == "conv":
            raise ValueError("architecture='conv' is for images; a table takes 'mlp'.")
        for name in ("dequantize", "binarize"):
            if getattr(self, name, None) not in (None, False, "none"):
                raise ValueError(f"{name} applies to images, not to a mixed table.")

    # -- the parts on a table --------------------------------------------------------
    def _likelihood(self) -> Likelihood:
        table = self._table
        return super()._likelihood() if table is None else MixedLikelihood(table.columns)

    def _networks(self, model_shape: tuple[int, ...], params_per_value: int):
        table = self._table
        if table is None:
            return super()._networks(model_shape, params_per_value)
        hidden = DEFAULT_HIDDEN["mlp"] if self.hidden is None else self.hidden
        hidden = tuple(int(h) for h in hidden)
        table_input = TableInput(table.columns)
        body = MLPEncoder((table_input.out_features,), hidden, self.activation, self.norm)
        n_params = MixedLikelihood(table.columns).n_params
        decoder = MLPDecoder(self.latent_dim, (n_params,), hidden, self.activation, self.norm)
        return TableEncoder(table_input, body), decoder

    def _corruption(self, std: float) -> nn.Module:
        """The denoising corruption: per kind on a table, Gaussian noise otherwise."""
        table = self._table
        return GaussianNoise(std) if table is None else TableCorruption(table.columns, std)

    def _scaling(self) -> str:
        return super()._scaling() if self._table is None else "none"  # the table scales

    def _start(self) -> str:
        return super()._start() if self._table is None else "random"

    # -- using -----------------------------------------------------------------------
    def _check_X(self, X: Any) -> torch.Tensor:
        table = self._table
        if table is None:
            return super()._check_X(X)
        check_is_fitted(self, "module_")
        if hasattr(X, "columns"):
            return self._to_tensor(table.encode(X))
        packed = check_data(X)  # the estimator's own table tensors (inside fit)
        if packed.ndim != 2 or packed.shape[1] != 2 * len(table.columns):
            raise DataError(
                f"{type(self).__name__} was fitted on a table: pass a DataFrame with its "
                f"columns ({', '.join(table.names[:5])}{', ...' if len(table.names) > 5 else ''})."
            )
        return self._to_tensor(packed)

    def _as_frame(self, packed: np.ndarray, index: Any = None) -> Any:
        return self._table.decode(packed.reshape(len(packed), -1), index=index)

    def reconstruct(self, X: Any, noise_std: float = 0.0) -> Any:
        """The reconstruction; on a table, a DataFrame with every cell (missing ones
        too) at its most likely value given the code of its row."""
        out = super().reconstruct(X, noise_std)
        return out if self._table is None else self._as_frame(out, getattr(X, "index", None))

    def impute(self, X: Any) -> Any:
        """``X`` with its missing cells (and unseen levels) filled by the model's most
        likely values, observed cells as they are: a complete DataFrame.

        Examples
        --------
        >>> import numpy as np, pandas as pd, aekit
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"x": rng.normal(size=60), "c": rng.choice(["a", "b", "c"], 60)})
        >>> df.loc[3, "c"] = None
        >>> ae = aekit.Autoencoder(2, hidden=(8,), epochs=2, random_state=0).fit(df)
        >>> bool(ae.impute(df).notna().all().all())
        True
        """
        if self._table is None:
            raise ValueError("impute fills the missing cells of a table; fit on a DataFrame.")
        Xt = self._check_X(X)
        C = len(self._table.columns)

        def run(xb: torch.Tensor) -> torch.Tensor:
            filled = self.module_.reconstruct(xb)
            observed = (xb[:, C:] > 0.5).repeat(1, 2)
            return torch.where(observed, xb, filled)  # observed cells stay

        return self._as_frame(self._batched(run, Xt), getattr(X, "index", None))

    def inverse_transform(self, Z: Any, y: Any = None) -> Any:
        out = super().inverse_transform(Z, y=y)
        return out if self._table is None else self._as_frame(out)

    def sample(self, n: int, **options: Any) -> Any:
        out = super().sample(n, **options)
        return out if self._table is None else self._as_frame(out)

    def column_log_likelihoods(self, X: Any) -> Any:
        """``log p(x_j | z)`` of every cell at the mean code of its row, in nats (the
        numeric columns in their own units), 0 for a missing cell: a DataFrame whose
        rows sum to the total log-likelihood of the reconstruction."""
        table = self._table
        if table is None:
            raise ValueError("column_log_likelihoods is defined for a model fitted on a table.")
        Xt = self._check_X(X)
        lik = self.module_.likelihood

        def run(xb: torch.Tensor) -> torch.Tensor:
            params = self.module_.decode(self.module_.encode(xb).mean)
            return lik.log_prob_columns(params, xb).double()

        import pandas as pd

        values = self._batched(run, Xt, batch_size=256, padded=True)
        return pd.DataFrame(values, columns=table.names, index=getattr(X, "index", None))

    def feature_scores(self, X: Any) -> Any:
        """Each column's share of what makes a row an outlier; on a table, a DataFrame
        named by the table's columns whose rows sum to 1 (a row no single cell's
        change would make likelier is all 0; a missing cell's share is 0).

        The outlier score of a row is its NLL at its mean code (a VAE's: minus its
        ELBO, here over seeded code draws shared by a row and its repairs). A
        column's part of it is what the score would lose were that one cell set to
        its best value, the row encoded and decoded afresh:
        ``NLL(x) − min_v NLL(x with x_j = v) ≥ 0``, ``v`` over the column's levels,
        or over its training quantiles and the cell's reconstruction
        (:mod:`aekit.models.table_explanations` says why not the cell's own NLL: the
        reconstruction has seen the cell). One batched forward per level or quantile
        of each column (a VAE: one per code draw of each).

        Examples
        --------
        >>> import numpy as np, pandas as pd, aekit
        >>> rng = np.random.default_rng(0)
        >>> city = rng.choice(["Oslo", "Rome"], 200)
        >>> df = pd.DataFrame({"city": city, "lang": np.where(city == "Oslo", "no", "it"),
        ...                    "x": rng.normal(size=200)})
        >>> ae = aekit.Autoencoder(2, hidden=(16,), epochs=20, random_state=0).fit(df)
        >>> row = df.head(1).assign(lang="it" if df.loc[0, "lang"] == "no" else "no")
        >>> ae.feature_scores(row).round(2).columns.tolist()
        ['city', 'lang', 'x']
        """
        table = self._table
        if table is None:
            return super().feature_scores(X)
        Xt = self._check_X(X)
        tried = tried_values(table.columns)

        def run(xb: torch.Tensor) -> torch.Tensor:
            return repair_gains(self.module_, tried, xb)

        import pandas as pd

        gains = self._batched(run, Xt, batch_size=512, padded=True)
        return pd.DataFrame(shares_of(gains), columns=table.names, index=getattr(X, "index", None))

    @property
    def score_measure_(self) -> str:
        if self._table is None or type(self).score_samples is not TableMixin.score_samples:
            return super().score_measure_  # the VAE's stays its ELBO
        return "log-likelihood of the row's observed cells at its mean code (nats)"

    def score_samples(self, X: Any) -> np.ndarray:
        """Higher for more normal rows; on a table, the total log-likelihood of each row
        given its mean code, in nats (minus the outlier score, the NLL)."""
        if self._table is None:
            return super().score_samples(X)
        return self.column_log_likelihoods(X).to_numpy().sum(1)

    # -- persistence -----------------------------------------------------------------
    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, fitted = super()._export()
        fitted["table_"] = None if self._table is None else self._table.to_dict()
        return tensors, fitted

    def _restore(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        saved = fitted.get("table_")  # models saved before tables have none
        self.table_ = None if saved is None else Table.from_dict(saved)
        super()._restore(fitted, weights)
