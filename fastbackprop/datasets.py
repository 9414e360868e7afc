"""Small datasets: the classic height/weight set and the Boolean functions.

Each data set function (``gender``, ``xor``, ``and_``, ``or_``, ``xor_bipolar``,
``load``) returns fresh ``(X, y)`` arrays: X float64 of shape (n, 2), y float64 of
shape (n,) with values in {0, 1} (``xor_bipolar``, for tanh units: X in {-1, 1}^2,
y in {-0.9, 0.9}); ``load_csv`` reads yours (y in [-1, 1], or the activation's range).
"""

from __future__ import annotations

import array
import codecs
import os
import re
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from ._settings import ACTIVATIONS, OUTPUT_LOW, TANH_HINT


def gender() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The classic 4-person set: (weight - 135 lb, height - 66 in) -> 1 if female.

    Returns
    -------
    X : ndarray of float64, shape (4, 2)
        Alice [-2, -1], Bob [25, 6], Charlie [17, 4], Diana [-15, -6].
    y : ndarray of float64, shape (4,)
        [1, 0, 0, 1].
    """
    X = np.array([[-2.0, -1.0], [25.0, 6.0], [17.0, 4.0], [-15.0, -6.0]])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    return X, y


def gender_queries() -> dict[str, tuple[npt.NDArray[np.float64], float]]:
    """The two query people of the classic run.

    Returns
    -------
    dict of str -> (ndarray of float64 shape (2,), float)
        ``{"Emily": ([-7, -3], 1.0), "Frank": ([20, 2], 0.0)}``: input and the
        expected label (1 = female).
    """
    return {
        "Emily": (np.array([-7.0, -3.0]), 1.0),
        "Frank": (np.array([20.0, 2.0]), 0.0),
    }


def _truth_table(fn: Callable[[int, int], int]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([float(fn(int(a), int(b))) for a, b in X])
    return X, y


def xor() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """XOR on {0, 1}^2: y = [0, 1, 1, 0]."""
    return _truth_table(lambda a, b: a ^ b)


def and_() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """AND on {0, 1}^2: y = [0, 0, 0, 1]."""
    return _truth_table(lambda a, b: a & b)


def or_() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """OR on {0, 1}^2: y = [0, 1, 1, 1]."""
    return _truth_table(lambda a, b: a | b)


def xor_bipolar() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """XOR as Reed & Marks train tanh units: inputs on {-1, 1}^2, targets [-0.9, 0.9, 0.9, -0.9]
    (inside tanh's range, which it reaches only in the limit)."""
    X, y = xor()
    return 2 * X - 1, np.where(y > 0.5, 0.9, -0.9)


#: Name -> loader, as used by the command line's ``--dataset``.
DATASETS: dict[str, Callable[[], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]] = {
    "gender": gender,
    "xor": xor,
    "and": and_,
    "or": or_,
    "xor-bipolar": xor_bipolar,
}


def load(name: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(X, y)`` of a dataset by name: one of ``DATASETS``, as the command line's ``--dataset`` names them.

    ``load("and")`` is ``and_()``, ``load("xor-bipolar")`` is ``xor_bipolar()``;
    X (n, 2) and y (n,) are new float64 arrays.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, one of {sorted(DATASETS)}, got {type(name).__name__}")
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name]()


_CSV_COLUMNS = ("x0", "x1", "y")
#: Largest CSV file read: millions of rows (a 2-2-1 network needs far fewer),
#: parsed in a minute at most and held in 24 bytes a row.
MAX_CSV_BYTES = 64 << 20
#: A number as a CSV field holds one: ASCII digits (``float`` would also take
#: ``1_000`` and other scripts' digits), and the non-finite words it names.
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|inf(?:inity)?|nan)", re.ASCII | re.IGNORECASE)
_UNICODE = {  # byte-order marks, longest first (UTF-32's starts with UTF-16's), and their text's codec
    codecs.BOM_UTF32_LE: None,
    codecs.BOM_UTF32_BE: None,
    codecs.BOM_UTF16_LE: "utf-16-le",
    codecs.BOM_UTF16_BE: "utf-16-be",
    codecs.BOM_UTF8: "utf-8",
}


def load_csv(
    path: str | os.PathLike[str], activation: str | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Read ``(X, y)`` from a CSV file with columns x0, x1, y.

    A header row is optional; if present it must name the three columns
    (``x0,x1,y`` in any order). Blank lines, and rows of empty fields as
    spreadsheets export them, are skipped. The text may be UTF-8
    (with or without the byte-order mark spreadsheets write) or UTF-16 with a
    byte-order mark; files over 64 MiB are refused. ``activation`` ("sigmoid"
    or "tanh"), if given, is the network's the data is for: y must lie in its
    range, [0, 1] or [-1, 1]; without it, in either.

    Raises
    ------
    ValueError
        Naming the file and the line: text that is not UTF-8, a malformed or
        over-long field, a row without exactly 3 columns, a value that is not a
        finite number, y outside the activation's range ([-1, 1] when none is
        given; sigmoid networks refuse y below 0 when they train), or no data
        rows; or a file too large, or an unknown activation.
    OSError
        The file cannot be read.
    """
    import csv
    import io

    if not isinstance(path, (str, bytes, os.PathLike)):  # an int would be read, and closed, as a file descriptor
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"activation must be 'sigmoid', 'tanh' or None, got {activation!r}")
    low = min(OUTPUT_LOW.values()) if activation is None else OUTPUT_LOW[activation]
    units = "" if activation is None else f" for {activation} units"
    with open(path, "rb") as binary:
        data = binary.read(MAX_CSV_BYTES + 1)  # bounded: --data /dev/zero must not read forever
    if len(data) > MAX_CSV_BYTES:
        raise ValueError(f"{path}: larger than {MAX_CSV_BYTES >> 20} MiB, the most a data file may hold")
    bom, encoding = next(((bom, enc) for bom, enc in _UNICODE.items() if data.startswith(bom)), (b"", "utf-8"))
    if encoding is None:
        raise ValueError(f"{path}: UTF-32 text; save the file as UTF-8")
    data = data[len(bom) :]  # (so that an error's offset counts from the text)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode(encoding, "replace")
        line = len(re.findall(r"\r\n|\r|\n", before)) + 1  # as csv counts lines
        name = "UTF-8" if encoding == "utf-8" else "UTF-16"
        raise ValueError(f"{path}, line {line}: not {name} text ({exc.reason}); save the file as UTF-8") from None
    order: tuple[int, ...] = (0, 1, 2)
    rows = array.array("d")  # x0, x1, y of each row, flat: 24 bytes a row
    header_possible = True
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            fields = next(reader, None)
        except csv.Error as exc:  # a NUL byte, a field over csv's 128 KiB limit, ...
            raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
        if fields is None:
            break
        lineno = reader.line_num
        fields = [v.strip() for v in fields]
        if not any(fields):
            continue
        where = f"{path}, line {lineno}"
        if len(fields) != 3:
            raise ValueError(f"{where}: expected 3 columns (x0, x1, y), got {len(fields)}")
        first, header_possible = header_possible, False
        if first and {v.lower() for v in fields} == set(_CSV_COLUMNS):
            order = tuple([v.lower() for v in fields].index(c) for c in _CSV_COLUMNS)
            continue
        values: list[float] = []
        for v in fields:
            if not _NUMBER.fullmatch(v):
                header = " (a header row must name the columns x0, x1 and y)" if first else ""
                raise ValueError(f"{where}: {v!r} is not a number{header}")
            values.append(float(v))
        x0, x1, yv = (values[k] for k in order)
        if not all(np.isfinite([x0, x1, yv])):
            raise ValueError(f"{where}: values must be finite, got {fields}")
        if not low <= yv <= 1.0:
            hint = TANH_HINT if activation == "sigmoid" and -1.0 <= yv < 0.0 else ""
            raise ValueError(f"{where}: y must lie in [{low:g}, 1]{units}, got {yv!r}{hint}")
        rows.extend((x0, x1, yv))
    if not rows:
        raise ValueError(f"{path}: no data rows")
    table = np.frombuffer(rows, dtype=np.float64).reshape(-1, 3)
    return table[:, :2].copy(), table[:, 2].copy()
