"""PCA on the one-hot table: the linear reference of a mixed-table model's evaluation.

Each column of the table becomes its standardised number (a count as it is, then
standardised with the rest) or a 0/1 indicator per level; a missing cell is 0 (the
training mean of a number, no level). The columns are standardised over the training
rows, PCA with as many components as the model's code is fitted on them, and a row's
reconstruction is read back per column: a number in its own units, the level whose
indicator is largest.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from aekit.data.tables import Table


def one_hot(table: Table, packed: np.ndarray) -> np.ndarray:
    """The one-hot table of a table tensor ``packed`` (n, 2C), one block per column."""
    C = len(table.columns)
    blocks = []
    for j, col in enumerate(table.columns):
        seen = packed[:, C + j] > 0.5
        value = np.where(seen, packed[:, j], 0.0).astype(np.float64)
        if col.kind in ("categorical", "binary"):
            blocks.append((value[:, None] == np.arange(len(col.levels))) & seen[:, None])
        else:
            blocks.append(value[:, None])
    return np.concatenate(blocks, 1).astype(np.float64)


class OneHotPCA:
    """PCA with ``n_components`` on the standardised one-hot table of the rows it is
    fitted on; :meth:`reconstruct` gives a table tensor's value block back.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "a", "c"]})
    >>> table = Table.fit(df)
    >>> ref = OneHotPCA(table, 4).fit(table.encode(df))
    >>> [str(v) for v in table.decode(ref.reconstruct(table.encode(df)))["c"]]
    ['a', 'b', 'a', 'c']
    """

    def __init__(self, table: Table, n_components: int) -> None:
        self.table, self.n_components = table, int(n_components)

    def fit(self, packed: np.ndarray) -> OneHotPCA:
        wide = one_hot(self.table, packed)
        self.center_ = wide.mean(0)
        scale = wide.std(0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        k = min(self.n_components, *wide.shape)
        self.pca_ = PCA(k, svd_solver="full").fit((wide - self.center_) / self.scale_)
        return self

    def reconstruct(self, packed: np.ndarray) -> np.ndarray:
        """The reconstruction as a complete table tensor (n, 2C)."""
        z = self.pca_.transform((one_hot(self.table, packed) - self.center_) / self.scale_)
        wide = self.pca_.inverse_transform(z) * self.scale_ + self.center_
        C, start = len(self.table.columns), 0
        values = np.empty((len(packed), C))
        for j, col in enumerate(self.table.columns):
            width = len(col.levels) if col.kind in ("categorical", "binary") else 1
            block = wide[:, start : start + width]
            values[:, j] = block.argmax(1) if width > 1 else block[:, 0]
            start += width
        return np.concatenate([values, np.ones_like(values)], 1)
