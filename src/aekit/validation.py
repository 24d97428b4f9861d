"""Input validation shared by every estimator and data source."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from aekit.errors import DataError, NonNumericDataError


def check_data(
    X: object,
    *,
    expected_shape: Sequence[int] | None = None,
    min_samples: int = 1,
    what: str = "X",
    dtype: type = np.float32,
    finite: bool = True,
) -> np.ndarray:
    """Return ``X`` as a finite float32 (or ``dtype``) array of vectors or images.

    ``uint8`` values are 8-bit levels 0..255 and are divided by 255, exactly as the
    command line reads image files, so a model never sees raw levels from one
    caller and [0, 1] from another. A 2-D ``uint8`` table (ages, counts) gets a
    warning saying so: images come as (n, H, W) or (n, C, H, W).

    Parameters
    ----------
    X : array-like of shape (n, D), (n, H, W) or (n, C, H, W)
        The data, one example per row.
    expected_shape : sequence of int, optional
        The shape of one example the caller requires (``input_shape_`` of a fitted
        model); a mismatch is an error naming both shapes.
    min_samples : int, default=1
        The fewest examples accepted.
    what : str, default="X"
        Name of the argument, used in messages.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        The floating type returned.
    finite : bool, default=True
        Check that every value is finite. A caller that reads all the data anyway
        can pass ``False`` and check its own pass (see :func:`check_sums`).

    Returns
    -------
    ndarray of ``dtype``
        A C-contiguous copy or view of ``X``.

    Raises
    ------
    DataError
        If ``X`` is not numeric, is empty, has too few examples, the wrong number
        of dimensions, the wrong example shape, or holds NaN or infinite values.

    Examples
    --------
    >>> check_data([[0.0, 1.0], [2.0, 3.0]]).shape
    (2, 2)
    >>> check_data(np.array([[0, 51, 255]], dtype=np.uint8)).tolist()
    [[0.0, 0.20000000298023224, 1.0]]
    """
    if type(X).__module__.startswith("torch"):  # a tensor, perhaps on a GPU or with a graph
        X = X.detach().cpu().numpy()
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise DataError(f"{what} is a sparse matrix; aekit needs a dense array.")
    try:
        array = np.asarray(X)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what} could not be read as a numeric array ({exc}).") from None
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise NonNumericDataError(f"{what} must be numeric: {exc}.") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise NonNumericDataError(
            f"{what} must be numeric, but its values have type {array.dtype}."
        )
    if np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(f"Complex data not supported: {what} must hold real numbers.")
    if array.ndim not in (2, 3, 4):
        raise DataError(
            f"{what} must have shape (n, features), (n, H, W) or (n, C, H, W), "
            f"but it has {array.ndim} dimension(s) with shape {array.shape}. Reshape your data "
            "(a single example x as x[None], a single feature as x[:, None])."
        )
    if array.shape[0] < min_samples:
        raise DataError(
            f"{what} has {array.shape[0]} sample(s), but at least {min_samples} are needed."
        )
    if array.size == 0:
        raise DataError(
            f"{what} is empty: 0 feature(s) (shape={array.shape}) while a minimum of 1 is required."
        )
    if finite:  # before the cast: a float64 value beyond float32 is named, not "infinite"
        _check_values(array, what, dtype)
    levels = array.dtype == np.uint8
    if levels and array.ndim == 2:  # ages and counts are uint8 too; images are 3-D or 4-D
        warnings.warn(
            f"{what} is a uint8 table: its values are read as 8-bit levels and divided by "
            "255, as images are; pass floats (X.astype(float)) to keep them in their units.",
            UserWarning,
            stacklevel=3,
        )
    array = np.ascontiguousarray(array, dtype=dtype)  # a memmap of that dtype stays a view
    if levels:
        np.divide(array, 255.0, out=array, casting="unsafe")  # a fresh float copy
    if expected_shape is not None:
        expected = tuple(int(s) for s in expected_shape)
        got = array.shape[1:]
        if got != expected and not _same_size_images(got, expected):
            raise DataError(
                f"{what} has examples of shape {got}, but the model was fitted on shape {expected}."
            )
        array = array.reshape((array.shape[0], *expected))
    return array


def check_sums(sums: np.ndarray, array: np.ndarray, what: str = "X") -> np.ndarray:
    """Return the float64 column ``sums`` of ``array`` if they are finite, else raise.

    A NaN or an infinity anywhere makes its column sum NaN or infinite, so a finite
    sum proves the column finite: callers that sum the data anyway skip
    :func:`check_data`'s separate pass. A non-finite sum of finite values (float64
    data near the largest double) gets its own message.
    """
    if np.isfinite(sums).all():
        _check_values(array, what, array.dtype if array.dtype.kind == "f" else np.float64)
        return sums
    if not _all_finite(array):
        raise DataError(f"{what} contains NaN or infinite values.")
    raise DataError(f"{what} holds values so large that their sum overflows float64.")


def _check_values(array: np.ndarray, what: str, dtype: type) -> None:
    """Refuse NaN, infinite values and values whose squares overflow ``dtype``, the
    type the models compute in."""
    rows = max(1, 2**22 // max(1, array[0].size)) if len(array) else 1
    with np.errstate(over="ignore", invalid="ignore"):
        largest = max(
            (float(np.max(np.abs(array[i : i + rows]))) for i in range(0, len(array), rows)),
            default=0.0,
        )
    if not math.isfinite(largest):
        raise DataError(f"{what} contains NaN or infinite values.")
    limit = math.sqrt(float(np.finfo(dtype).max))
    if largest > limit:
        raise DataError(
            f"{what} holds a value of size {largest:.3g}; aekit computes in "
            f"{np.dtype(dtype).name}, where values beyond {limit:.2g} overflow when squared: "
            "rescale the data."
        )


def _all_finite(array: np.ndarray, chunk_values: int = 2**22) -> bool:
    """``np.isfinite(array).all()`` a slab of rows at a time: bounded memory for memmaps."""
    rows = max(1, chunk_values // max(1, array[0].size)) if len(array) else 1
    return all(np.isfinite(array[i : i + rows]).all() for i in range(0, len(array), rows))


def _same_size_images(got: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """(n, H, W) and (n, 1, H, W) describe the same grey-level images."""

    def grey(shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[1:] if len(shape) == 3 and shape[0] == 1 else shape

    return len(got) >= 2 and len(expected) >= 2 and grey(got) == grey(expected)


MAX_INT = 2**63 - 1  # what torch and NumPy hold
MAX_FLOAT = 1e6  # beyond this a setting's squares and sums overflow float32 arithmetic


def check_positive(
    value: object,
    name: str,
    *,
    integer: bool = False,
    allow_zero: bool = False,
    maximum: float | None = None,
):
    """Return ``value`` if it is a positive (or non-negative) finite number of at most
    ``maximum`` (default: 2⁶³ − 1 for integers, 1e6 otherwise), else raise ``ValueError``."""
    kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kind):
        word = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {word}, got {value!r}.")
    if integer:
        finite = True
    else:
        finite = bool(np.isfinite(float(value))) if abs(value) < 1e308 else False
    if not finite or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} and finite, got {value!r}.")
    top = (MAX_INT if integer else MAX_FLOAT) if maximum is None else maximum
    if value > top:
        shown = str(top) if integer else f"{top:g}"
        raise ValueError(f"{name} must be at most {shown}, got {value!r}.")
    return value


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return value  # type: ignore[return-value]


# -- estimator parameters ---------------------------------------------------------------
Check = Callable[[object, str], object]
MAX_SEED = 2**32 - 1  # NumPy's and scikit-learn's seeds


def positive(
    *,
    integer: bool = False,
    zero: bool = False,
    optional: bool = False,
    maximum: float | None = None,
) -> Check:
    """A check that a parameter is a positive number (``zero``: non-negative;
    ``integer``: an integer; ``optional``: or None; at most ``maximum``)."""

    def check(value: object, name: str) -> object:
        if optional and value is None:
            return value
        return check_positive(value, name, integer=integer, allow_zero=zero, maximum=maximum)

    return check


def one_of(choices: Sequence[str]) -> Check:
    """A check that a parameter is one of ``choices``."""

    def check(value: object, name: str) -> object:
        return check_choice(value, name, choices)

    return check


def fraction(
    low: float, high: float, *, bottom_open: bool = False, top_open: bool = False
) -> Check:
    """A check that a parameter is a number between ``low`` and ``high`` (each end
    included unless ``bottom_open`` / ``top_open``)."""

    def check(value: object, name: str) -> object:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok:
            v = float(value)
            ok = (v > low if bottom_open else v >= low) and (v < high if top_open else v <= high)
        if not ok:
            left, right = "(" if bottom_open else "[", ")" if top_open else "]"
            raise ValueError(
                f"{name} must be a number in {left}{low:g}, {high:g}{right}; got {value!r}."
            )
        return value

    return check


def auto_or(check: Check) -> Check:
    """A check that a parameter is the word ``"auto"`` or passes ``check``."""

    def check_auto(value: object, name: str) -> object:
        if isinstance(value, str):
            if value != "auto":
                raise ValueError(f"{name} must be 'auto' or a number; got {value!r}.")
            return value
        return check(value, name)

    return check_auto


def flag(value: object, name: str) -> object:
    """A check that a parameter is True or False."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return value


def widths(value: object, name: str) -> object:
    """A check that a parameter is None or a tuple of positive integers."""
    if value is not None and not (
        isinstance(value, tuple | list)
        and all(
            isinstance(h, int | np.integer) and not isinstance(h, bool) and h > 0 for h in value
        )
    ):
        raise ValueError(f"{name} must be a tuple of positive integers; got {value!r}.")
    return value


def validate_params(estimator: object, constraints: Mapping[str, Check]) -> None:
    """Check each parameter of ``estimator`` named in ``constraints``; the first bad
    one raises ``ValueError`` naming it and the value given."""
    for name, check in constraints.items():
        check(getattr(estimator, name), name)
