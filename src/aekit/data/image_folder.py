"""Reading a folder of images as people have them: any mix of greyscale, RGB,
palette and transparent PNG/JPEG/BMP files, of one size or resized to one.

What aekit does to the pictures (alpha composited, greyscale widened to RGB,
resized) is said in one :class:`~aekit.errors.DataNote` line each.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from aekit.errors import DataError, DataNote, one_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
GREY_MODES = frozenset({"1", "L", "LA", "La"})
COLOUR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})


def parse_image_size(text: str) -> tuple[int, int]:
    """``"H,W"`` (or ``"HxW"``) as a pair of positive ints.

    Examples
    --------
    >>> parse_image_size("28,28")
    (28, 28)
    """
    parts = text.replace("x", ",").replace(" ", "").split(",")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) != 2 or min(size) < 1 or max(size) > 4096:
        raise DataError(f"image size must be H,W with 1 to 4096 pixels each, got {text!r}.")
    return size  # type: ignore[return-value]


def _has_alpha(image) -> bool:
    return image.mode in ALPHA_MODES or "transparency" in image.info


def read_image_folder(
    path: Path, image_size: tuple[int, int] | None = None, channels: int | None = None
):
    """Read every PNG/JPEG/BMP image under ``path`` (recursively) as uint8 (n, C, H, W).

    Parameters
    ----------
    path : Path
        The folder. When every image lies in a sub-folder, the sub-folder names
        (sorted) give the integer labels 0, 1, ...; otherwise there are no labels.
    image_size : (int, int), optional
        ``(H, W)`` every image is resized to (Lanczos). Without it all images must
        share one size, and two that differ are named.
    channels : {1, 3}, optional
        1: every image as greyscale (e.g. grey digits saved as RGB); 3: every image
        as RGB. Default: 1 when every image is greyscale, else 3.

    Returns
    -------
    X : ndarray of uint8, shape (n, C, H, W)
        C = 1 when every image is greyscale, else 3 (greyscale images widened).
        Transparent pixels are composited onto black, the background of [0, 1]
        image data.
    y : ndarray of int64 or None
    """
    from PIL import Image

    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels!r}.")
    every = [p for p in path.rglob("*") if p.is_file()]
    files = sorted(
        (p for p in every if p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.relative_to(path).as_posix(),
    )
    if not files:
        raise DataError(f"{path} holds no PNG, JPEG or BMP images.")
    _say_what_was_skipped(path, sorted(set(every) - set(files)))
    headers = [_header(file) for file in files]
    colour = any(mode not in GREY_MODES for mode, _, _ in headers)
    if channels is not None:
        colour = channels == 3
    if image_size is None:
        sizes: dict[tuple[int, int], Path] = {}  # size -> the first file of that size
        for file, (_, size, _) in zip(files, headers, strict=True):
            sizes.setdefault(size, file)
        if len(sizes) > 1:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise DataError(
                f"{fb} is {b[1]}x{b[0]} pixels (HxW), but {fa} is {a[1]}x{a[0]}; give "
                "--image-size H,W (image_size=(H, W)) to resize every image to one size."
            )
        height, width = headers[0][1][1], headers[0][1][0]
    else:
        height, width = image_size
    out = np.empty((len(files), 3 if colour else 1, height, width), dtype=np.uint8)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                out[i] = _pixels(image, colour, (width, height))
        except Exception as exc:  # Pillow raises many types on corrupted files
            raise DataError(f"{file} could not be read as an image ({one_line(exc)}).") from None
    _say_what_was_done(path, headers, colour, (width, height), forced=channels is not None)
    parts = [file.relative_to(path).parts for file in files]
    if all(len(p) > 1 for p in parts):
        classes = {name: k for k, name in enumerate(sorted({p[0] for p in parts}))}
        return out, np.array([classes[p[0]] for p in parts], dtype=np.int64)
    return out, None


def _header(file: Path) -> tuple[str, tuple[int, int], bool]:
    """(mode, (width, height), has alpha) of an image, read without decoding it."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            mode, size, alpha = image.mode, image.size, _has_alpha(image)
    except Exception as exc:
        raise DataError(f"{file} could not be read as an image ({one_line(exc)}).") from None
    if mode not in GREY_MODES | COLOUR_MODES:
        raise DataError(
            f"{file} has image mode {mode} (e.g. 16-bit or floating-point pixels); aekit "
            "reads 8-bit greyscale, RGB, palette and transparent images."
        )
    return mode, size, alpha


def _pixels(image, colour: bool, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 (C, H, W): alpha composited onto black, then resized."""
    from PIL import Image

    if _has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB" if colour else "L")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _say_what_was_skipped(path: Path, skipped: list[Path]) -> None:
    """One note line for the files of the folder that are not images aekit reads."""
    if skipped:
        warnings.warn(
            f"{path}: skipped {len(skipped)} "
            + ("file that is not a" if len(skipped) == 1 else "files that are not")
            + f" PNG, JPEG or BMP image (such as {skipped[0].relative_to(path)}).",
            DataNote,
            stacklevel=4,
        )


def _say_what_was_done(
    path: Path,
    headers: list[tuple[str, tuple[int, int], bool]],
    colour: bool,
    size: tuple,
    forced: bool = False,
) -> None:
    """One note line for each kind of change made to the pictures."""
    n = len(headers)
    done = Counter()
    for mode, image_size, alpha in headers:
        done["alpha"] += alpha
        done["grey"] += colour and mode in GREY_MODES
        done["colour"] += not colour and mode not in GREY_MODES
        done["resized"] += image_size != size
    widened = (
        "greyscale: widened to RGB as asked (channels=3)"
        if forced
        else ("greyscale among colour images: widened to RGB")
    )
    notes = {
        "alpha": "had transparency: alpha composited onto black",
        "grey": f"were {widened}",
        "colour": "were in colour: converted to greyscale as asked (channels=1)",
        "resized": f"were resized to {size[1]}x{size[0]} pixels (HxW)",
    }
    for key, text in notes.items():
        if done[key]:
            warnings.warn(f"{path}: {done[key]} of {n} images {text}.", DataNote, stacklevel=3)
