"""Data: bundled digits, MNIST, Fashion-MNIST and the user's own files, split three
ways (:func:`load_data`), and the seeded draws evaluation makes of them.

>>> from aekit.data import load_data
>>> load_data("digits").sample_shape
(1, 8, 8)
"""

from aekit.data.sources import (
    DATASETS,
    DataBundle,
    DataSpec,
    Split,
    load_data,
    load_examples,
    load_idx_dataset,
    resolve_data_dir,
)
from aekit.data.values import binarize, dequantize, in_unit_interval, is_8bit, is_binary

__all__ = [
    "DATASETS",
    "DataBundle",
    "DataSpec",
    "Split",
    "binarize",
    "dequantize",
    "in_unit_interval",
    "is_8bit",
    "is_binary",
    "load_data",
    "load_examples",
    "load_idx_dataset",
    "resolve_data_dir",
]
