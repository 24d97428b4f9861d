"""uint8 data (issue 32, item 5): images are 8-bit levels divided by 255; a 2-D uint8
table (ages, counts) is divided too, but never silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from aekit.validation import check_data


def test_a_uint8_table_is_scaled_with_a_warning():
    ages = np.array([[23, 41], [67, 30]], dtype=np.uint8)
    with pytest.warns(UserWarning, match="uint8 table.*divided by 255"):
        X = check_data(ages)
    np.testing.assert_allclose(X, ages / 255.0, rtol=1e-6)


def test_uint8_images_are_scaled_without_a_warning():
    images = np.full((3, 4, 4), 255, dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_data(images).max() == 1.0
