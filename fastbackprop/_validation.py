"""Argument checks shared by the public API and the command line.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right
kind, bad value) with a message that names the argument and shows the value.
They run before any compiled code, and never modify their input.
"""

import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import numba
import numpy as np
import numpy.typing as npt

from ._layout import N_PARAMS
from ._settings import (
    ACTIVATIONS,
    DEVICES,
    DTYPES,
    INITS,
    OUTPUT_LOW,
    PER_ROW,
    TANH_HINT,
    Execution,
    PerNetwork,
    Training,
)

T = TypeVar("T")

_MAX_INT64 = np.iinfo(np.int64).max
#: Upper bounds that keep a typo from becoming a days-long run or a huge
#: allocation: 10**9 epochs of one sample take about a minute per network,
#: 10**9 seeds need about 100 GB of results; more threads than 4096 is a typo.
MAX_EPOCHS = 10**9
MAX_SEEDS = 10**9
MAX_THREADS = 4096
#: Most training lengths a grid records (a store's manifest lists them).
MAX_LENGTHS = 10**6


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _holds_bool(value: Any) -> bool:
    """Whether a list or tuple, at any depth, holds a bool or a bool array: NumPy would read it as 0 or 1."""
    return _holds(value, _is_bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == np.bool_)


def _is_masked(value: Any) -> bool:
    return isinstance(value, np.ma.MaskedArray) and bool(np.ma.is_masked(value))


def _holds(value: Any, found: Callable[[Any], bool]) -> bool:
    """Whether a list or tuple, at any depth, holds an item for which ``found`` is true."""
    todo = [value] if isinstance(value, (list, tuple)) else []
    seen = {id(value)}  # a list that holds itself is walked once (NumPy then refuses it)
    while todo:  # not recursive: nesting too deep for NumPy must not overflow Python's stack first
        for v in todo.pop():
            if found(v):
                return True
            if isinstance(v, (list, tuple)) and id(v) not in seen:
                seen.add(id(v))
                todo.append(v)
    return False


#: Not numbers, though Python or NumPy class them so: bools are ints in Python, and NumPy's
#: timedelta64 is a signed integer type.
_NOT_NUMBERS = (bool, np.bool_, np.timedelta64)


def is_int(value: Any) -> bool:
    """True for Python/NumPy integers, False for bools and timedeltas."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, _NOT_NUMBERS)


def is_real(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, _NOT_NUMBERS)


def check_bool(value: Any, name: str) -> bool:
    """A Python or NumPy bool (or a 0-d array of one), as a Python bool."""
    value = unwrapped(value)
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_show(value)}")
    return bool(value)


def unwrapped(value: Any) -> Any:
    """A 0-d array as its NumPy scalar (as ``sweep``'s per-network settings take it); else ``value``."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def check_int(value: Any, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    """An int in [minimum, maximum] (bools and floats refused); returns a Python int."""
    value = unwrapped(value)
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {_show(value)} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_seed(seed: Any, name: str = "seed") -> int:
    seed = check_int(seed, name)
    if seed > _MAX_INT64:
        raise ValueError(f"{name} must fit in int64 (<= {_MAX_INT64}), got {seed}")
    return seed


def _real(value: Any, name: str, must: str) -> float:
    """A real ``value`` as a Python float; ``must`` says what it must be, in an error."""
    value = unwrapped(value)
    _refuse_masked(value, name)
    if not is_real(value):
        raise TypeError(f"{name} must be a real number, got {_show(value)} ({type(value).__name__})")
    try:
        return float(value)
    except OverflowError:  # an int past 1.8e308
        raise ValueError(f"{name} must {must}, got {_show(value)}: too large for a float") from None


def _refuse_masked(value: Any, name: str) -> None:
    """NumPy would take a masked array's hidden values (or 0 for ``np.ma.masked``) without a word,
    also from masked arrays in a list."""
    if _is_masked(value) or _holds(value, _is_masked):
        raise ValueError(f"{name} has masked values; fill them (np.ma.filled) or leave them out")


def check_positive_float(value: Any, name: str) -> float:
    """A finite real > 0, returned as a Python float."""
    value = _real(value, name, "be finite and > 0")
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def as_real_array(value: Any, name: str) -> npt.NDArray[np.float64]:
    """``value`` as a new float64 array (any real dtype, order, strides)."""
    _refuse_masked(value, name)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be a rectangular array of real numbers: {exc}") from None
    if arr.dtype == object and not isinstance(value, np.ndarray) and all(map(is_real, arr.flat)):
        try:  # Python numbers beyond int64 (2**64) or exact ones (Fraction), as a scalar setting takes them
            arr = arr.astype(np.float64)
        except OverflowError:
            raise ValueError(f"{name} must be finite, got an int beyond the float range in {name}") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype} ({_show(value)})")
    if _holds_bool(value):
        raise TypeError(f"{name} must hold real numbers, not bools ({_show(value)})")
    arr = np.array(arr, dtype=np.float64, order="C")  # always a copy
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise ValueError(f"{name} must be finite, got {float(bad)!r} in {name}")
    return arr


def check_inputs(X: Any) -> npt.NDArray[np.float64]:
    """A validated float64 copy of inputs X of shape (n, 2), n >= 1."""
    X = as_real_array(X, "X")
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got shape {X.shape}")
    if X.shape[0] < 1:
        raise ValueError("X must have at least one sample, got shape (0, 2)")
    return X


def check_dataset(
    X: Any, y: Any, activation: str = "sigmoid"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Validated copies: X (n, 2) and y (n,) float64, n >= 1, y in the activation's range.

    [0, 1] for sigmoid units, [-1, 1] for tanh (``activation`` already checked).
    """
    X = check_inputs(X)
    y = as_real_array(y, "y")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got shape {y.shape}")
    lo = OUTPUT_LOW[activation]
    if np.any((y < lo) | (y > 1.0)):
        bad = y[(y < lo) | (y > 1.0)][0]
        hint = TANH_HINT if activation == "sigmoid" and np.all((y >= -1.0) & (y <= 1.0)) else ""
        raise ValueError(f"y must lie in [{lo:g}, 1] for {activation} units, got {float(bad)!r} in y{hint}")
    return X, y


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """One of the strings ``choices``."""
    value = unwrapped(value)
    allowed = " or ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {allowed}, got {_show(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return str(value)


def check_momentum(value: Any, name: str = "momentum") -> float:
    """A real in [0, 1), as a Python float."""
    value = _real(value, name, "lie in [0, 1)")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return value


def check_per_network(value: Any, name: str, check: Callable[[Any, str], float]) -> PerNetwork:
    """A scalar passed through ``check``, or a 1-d array of such values (a new float64 array)."""
    _refuse_masked(value, name)
    try:
        scalar = np.ndim(value) == 0
    except ValueError:  # ragged nesting: as_real_array names the argument
        scalar = False
    if scalar:
        return check(value.item() if isinstance(value, np.ndarray) else value, name)
    arr = as_real_array(value, name)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-d array (one per network), got shape {arr.shape}")
    for v in np.unique(arr):  # one message naming the first bad value
        check(float(v), name)
    return arr


def check_survives(value: PerNetwork | None, name: str, dtype: str, zero_ok: bool = False) -> None:
    """Every value of ``value`` survives conversion to ``dtype``: no inf, no 0 or subnormal from nonzero.

    float64 values are the float64 values ``Network`` takes, subnormal ones too: nothing to check.
    """
    if value is None or dtype == "float64":
        return
    info = np.finfo(DTYPES[dtype])
    v = np.abs(np.asarray(value, dtype=np.float64))
    bad = (v > info.max) | ((v < info.smallest_normal) & ~((v == 0) & zero_ok))
    if bad.any():
        first = float(np.asarray(value).ravel()[np.argmax(bad.ravel())])
        raise ValueError(
            f"{name}={first!r} is outside what {dtype} holds at full precision "
            f"({info.smallest_normal:g} .. {info.max:g} in magnitude)"
        )


def check_momentum_survives(momentum: PerNetwork, name: str, dtype: str) -> None:
    """``check_survives`` for momenta, which must also stay below 1 in ``dtype``."""
    check_survives(momentum, name, dtype, zero_ok=True)
    if np.any(DTYPES[dtype](np.asarray(momentum)) >= 1):
        rounded = np.asarray(momentum)[DTYPES[dtype](np.asarray(momentum)) >= 1]
        raise ValueError(f"{name} must stay below 1 in {dtype}; {float(rounded.flat[0])!r} rounds to 1")


def check_params(params: Any) -> npt.NDArray[np.float64]:
    """A validated float64 copy of shape (9,)."""
    p = as_real_array(params, "params")
    if p.shape != (N_PARAMS,):
        raise ValueError(f"params must have shape ({N_PARAMS},), got shape {p.shape}")
    return p


def check_sample(x: Any, name: str = "x") -> npt.NDArray[np.float64]:
    """One input point: a validated float64 copy of shape (2,)."""
    x = as_real_array(x, name)
    if x.shape != (2,):
        raise ValueError(f"{name} must have shape (2,), got shape {x.shape}")
    return x


def check_seeds(seeds: Any, budget: Callable[[int], None] | None = None, name: str = "seeds") -> npt.NDArray[np.int64]:
    """Seeds as a new int64 array: an int N (0 .. N-1), a range, or integers.

    ``budget(count)``, if given, runs before the array is made: a memory
    check that must refuse before 8 bytes a seed are taken. Errors name the
    argument ``name``.
    """
    _refuse_masked(seeds, name)
    seeds = unwrapped(seeds)
    if is_int(seeds):
        count = check_int(seeds, name, minimum=1, maximum=MAX_SEEDS)
        if budget is not None:
            budget(count)
        return np.arange(count, dtype=np.int64)
    if isinstance(seeds, (bool, np.bool_, float, str, bytes)):
        raise TypeError(f"{name} must be an int, a range or an array of ints, got {seeds!r}")
    values: Any
    if isinstance(seeds, range):
        # len() overflows past 2**63 and min()/max() would iterate: count and take the ends
        step = seeds.step
        count = max(0, (seeds.stop - seeds.start + step - (1 if step > 0 else -1)) // step)
        if count == 0:
            raise ValueError(f"{name} must not be empty, got {seeds!r}")
        ends = (seeds.start, seeds.start + (count - 1) * step)
        if count > MAX_SEEDS:
            raise ValueError(f"{name} must hold at most {MAX_SEEDS} seeds, got {count}")
        if min(ends) < 0:
            raise ValueError(f"{name} must be non-negative, got {min(ends)}")
        if max(ends) > _MAX_INT64:
            raise ValueError(f"{name} must fit in int64, got {max(ends)}")
        if budget is not None:
            budget(count)
        # (one seed: any step, even one past int64; more: |step| <= the ends' spread)
        return seeds.start + np.arange(count, dtype=np.int64) * np.int64(step if count > 1 else 1)
    else:
        if _holds_bool(seeds):
            raise TypeError(f"{name} must hold ints, not bools ({_show(seeds)})")
        try:
            values = np.asarray(seeds)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} must be a 1-d array of ints: {exc}") from None
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-d, got shape {values.shape}")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty, got {seeds!r}")
    if len(values) > MAX_SEEDS:
        raise ValueError(f"{name} must hold at most {MAX_SEEDS} seeds, got {len(values)}")
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "O" and all(is_int(v) for v in values):
            values = [int(v) for v in values]  # Python ints, maybe past int64
        elif values.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold ints, got dtype {values.dtype}")
    lo, hi = int(min(values)), int(max(values))
    if lo < 0:
        raise ValueError(f"{name} must be non-negative, got {lo}")
    if hi > _MAX_INT64:
        raise ValueError(f"{name} must fit in int64, got {hi}")
    if budget is not None:
        budget(len(values))
    return np.array(values, dtype=np.int64)


def check_dtype(dtype: Any) -> str:
    """'float64' or 'float32' (also given as a NumPy dtype or type)."""
    dtype = unwrapped(dtype)
    try:
        name = None if dtype is None or isinstance(dtype, bool) else np.dtype(dtype).name
    except (TypeError, ValueError):  # ValueError: a malformed one, ("f8", -1)
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return name


def check_list(values: Any, name: str, check: Callable[[Any, str], T]) -> list[T]:
    """A non-empty 1-d sequence (or an iterator, read once), each item passed through ``check(item, name)``."""
    if isinstance(values, (set, frozenset, Mapping)):  # an order, for the result's axes, is needed
        raise TypeError(f"{name} must be an ordered sequence (a list, tuple, array or iterator), got {values!r}")
    if isinstance(values, Iterator):
        values = list(values)
    try:
        items = list(values) if np.ndim(values) == 1 else []
    except (TypeError, ValueError):  # ragged nesting
        items = []
    if not items:
        raise ValueError(f"{name} must be a non-empty 1-d sequence, got {values!r}")
    return [check(v, name) for v in items]


def check_training(
    *,
    epochs: Any,
    lr: Any,
    tol: Any,
    dtype: Any,
    record_at: Iterable[int] = (),
    lr_output: Any = None,
    momentum: Any = 0.0,
    activation: Any = "sigmoid",
    margin: Any = None,
    init: Any = "normal",
    init_scale: Any = 1.0,
    params0: Any = None,
    epochs_to_tol: Any = True,
) -> Training:
    """The settings that set a sweep's numbers, validated, as one ``Training``.

    ``lr``, ``lr_output``, ``momentum`` and ``init_scale`` may each be a
    scalar or one value per network (1-d arrays, all of one length, also that
    of ``params0``'s rows). Every value must also survive conversion to the
    sweep's dtype: a float32 sweep refuses values that round to 0 or inf
    there or lose precision (subnormals), and momenta that round to 1.
    """
    dtype = check_dtype(dtype)
    epochs_to_tol = check_bool(epochs_to_tol, "epochs_to_tol")
    activation = check_choice(activation, "activation", ACTIVATIONS)
    init = check_choice(init, "init", INITS)
    if params0 is not None:
        check_no_init_options("params0", init, init_scale)
        params0 = as_real_array(params0, "params0")
        if params0.ndim != 2 or params0.shape[1] != N_PARAMS or params0.shape[0] == 0:
            raise ValueError(f"params0 must have shape (S, {N_PARAMS}), S >= 1, got shape {params0.shape}")
        if params0.shape[0] > MAX_SEEDS:
            raise ValueError(f"params0 must hold at most {MAX_SEEDS} rows, got {params0.shape[0]}")
    epochs = check_int(epochs, "epochs", maximum=MAX_EPOCHS)
    record_at = tuple(int(e) for e in record_at)
    if record_at and not (list(record_at) == sorted(set(record_at)) and 1 <= record_at[0] and record_at[-1] <= epochs):
        raise ValueError(f"record_at must be increasing epoch counts in [1, {epochs}], got {record_at}")
    training = Training(
        epochs=epochs,
        lr=check_per_network(lr, "lr", check_positive_float),
        tol=check_positive_float(tol, "tol"),
        dtype=dtype,
        record_at=record_at,
        lr_output=None if lr_output is None else check_per_network(lr_output, "lr_output", check_positive_float),
        momentum=check_per_network(momentum, "momentum", check_momentum),
        activation=activation,
        margin=None if margin is None else check_positive_float(margin, "margin"),
        init=init,
        init_scale=check_per_network(init_scale, "init_scale", check_positive_float),
        params0=params0,
        epochs_to_tol=bool(epochs_to_tol),
    )
    lengths = per_network_lengths(training)
    if len(set(lengths.values())) > 1:
        raise ValueError(
            "per-network settings must all have one value per network: got lengths "
            + ", ".join(f"{n} {k}" for n, k in lengths.items())
        )
    for name in ("lr", "tol", "lr_output", "margin", "init_scale"):
        check_survives(getattr(training, name), name, dtype)
    check_momentum_survives(training.momentum, "momentum", dtype)
    check_survives(training.params0, "params0", dtype, zero_ok=True)
    check_init_scale(training.init_scale, dtype)
    return training


def _positive_per_network(value: Any, name: str) -> PerNetwork:
    return check_per_network(value, name, check_positive_float)


#: The checks a sweep makes of each setting that files and stores record.
_RECORDED_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "epochs": lambda value, name: check_int(value, name, maximum=MAX_EPOCHS),
    "tol": check_positive_float,
    "margin": check_positive_float,
    "lr": _positive_per_network,
    "lr_output": _positive_per_network,
    "init_scale": _positive_per_network,
    "momentum": lambda value, name: check_per_network(value, name, check_momentum),
}


def recorded_settings_ok(settings: Mapping[str, Any]) -> bool:
    """Whether settings read from a file or store (names of ``_RECORDED_CHECKS``; None: not
    recorded) pass the checks a sweep makes of them: a reader calls one that fails damaged."""
    try:
        for name, value in settings.items():
            if value is not None:
                _RECORDED_CHECKS[name](value, name)
    except (ValueError, TypeError):
        return False
    return True


def recorded_data_ok(X: Any, y: Any, activation: str) -> bool:
    """Whether data read from a file passes ``check_dataset`` (``activation`` one of ACTIVATIONS)."""
    try:
        check_dataset(X, y, activation)
    except (ValueError, TypeError):
        return False
    return True


def check_no_init_options(given: str, init: Any, init_scale: Any) -> None:
    """Refuse init options beside explicit starting points (argument ``given``: params or params0)."""
    contradicting = {n: v for n, v, d in (("init", init, "normal"), ("init_scale", init_scale, 1.0)) if not _is(v, d)}
    if contradicting:
        shown = ", ".join(f"{n}={_show(v)}" for n, v in contradicting.items())
        raise ValueError(f"{given} gives the starting points; init options contradict it (got {shown})")


def check_init_scale(init_scale: PerNetwork, dtype: str) -> None:
    """Refuse scales whose starts would overflow ``dtype`` (deviates are drawn in float64, below 40 in magnitude)."""
    limit = np.finfo(DTYPES[dtype]).max / 64
    if np.any(np.asarray(init_scale) > limit):
        big = float(np.max(init_scale))
        raise ValueError(f"init_scale is too large for {dtype}: starts would overflow (got {big!r}, most {limit:.3g})")


def _is(value: Any, default: str | float) -> bool:
    """Whether a checked setting equals its scalar default (never for an array)."""
    if isinstance(default, str):
        return bool(value == default)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return np.ndim(value) == 0 and is_real(value) and float(value) == default


def per_network_lengths(training: Training) -> dict[str, int]:
    """The settings given one value per network (params0 one row), and their lengths."""
    return {n: int(np.shape(getattr(training, n))[0]) for n in PER_ROW if np.ndim(getattr(training, n))}


def check_sweep_seeds(
    seeds: Any, training: Training, budget: Callable[[int], None] | None = None
) -> npt.NDArray[np.int64]:
    """The seeds (row labels) of a sweep: ``check_seeds``, or 0 .. S-1 when None and ``params0`` is given.

    Their number must match the per-network settings'.
    """
    lengths = per_network_lengths(training)
    if seeds is None:
        if training.params0 is None:
            raise TypeError("seeds must be given (an int, a range or an array of ints) unless params0 is")
        seeds = int(training.params0.shape[0])
    seed_array = check_seeds(seeds, budget)
    for name, n in lengths.items():
        if n != seed_array.shape[0]:
            what = "rows" if name == "params0" else "values"
            raise ValueError(f"{name} holds {n} {what} (one per network) but seeds holds {seed_array.shape[0]}")
    return seed_array


def check_grid_training(
    lrs: npt.NDArray[np.float64],
    momenta: npt.NDArray[np.float64] | None,
    epochs: npt.NDArray[np.int64],
    *,
    dtype: Any,
    tol: Any,
    **options: Any,
) -> Training:
    """A grid's settings, validated: every learning rate and momentum (arrays, as ``check_list``
    gives them) must survive ``dtype``; the ``Training`` of the longest run (``epochs``: the
    lengths, increasing), with the first learning rate (each cell's is set per network)."""
    dtype_name = check_dtype(dtype)
    check_survives(lrs, "lrs", dtype_name)  # before the first is checked as the run's lr
    if momenta is not None:
        check_momentum_survives(momenta, "momenta", dtype_name)
    return check_training(epochs=int(epochs[-1]), lr=lrs[0], tol=tol, dtype=dtype_name, record_at=epochs, **options)


def check_representable(X: npt.NDArray[np.float64], y: npt.NDArray[np.float64], training: Training) -> None:
    """X and y survive conversion to the sweep's dtype: no value becomes inf, or 0 from nonzero."""
    if training.dtype == "float64":
        return
    info = np.finfo(training.float_type)
    for name, values in (("X", X), ("y", y)):
        bad = (np.abs(values) > info.max) | ((values != 0) & (np.abs(values) < info.smallest_normal))
        if bad.any():
            value = float(values[bad][0])
            raise ValueError(
                f"{name} holds {value!r}, which does not survive conversion to {training.dtype} "
                f"(magnitudes {info.smallest_normal:g} .. {info.max:g}, or 0); use dtype='float64'"
            )


def available_memory() -> int | None:
    """Bytes of memory this process may still take, or None if unknown.

    Linux: MemAvailable, or less where a cgroup (a Slurm job, a container)
    caps the process; elsewhere the physical memory.
    """
    limits = []
    try:
        with open("/proc/meminfo") as f:
            limits += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    for cap, used in (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes")):
        for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory"):
            try:
                with open(os.path.join(root, cap)) as f, open(os.path.join(root, used)) as g:
                    limits.append(int(f.read()) - int(g.read()))
            except (OSError, ValueError):  # no such cgroup file, or "max": no cap
                pass
    if limits:
        return max(0, min(limits))
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - neither Linux nor POSIX
        return None


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    raise AssertionError  # pragma: no cover


_SMALL = 1 << 24  # 16 MiB


def check_memory(nbytes: int, name: str, what: str, hint: str = "") -> None:
    """Refuse up front what cannot fit in memory: a ValueError naming the argument and the size.

    Sizes below ``_SMALL`` are not checked: asking the system costs ~0.2 ms,
    a third of a training run.
    """
    if nbytes < _SMALL:
        return
    available = available_memory()
    if available is not None and nbytes > available:
        raise ValueError(
            f"{name}: {what} would take {_size(nbytes)} of memory, more than the {_size(available)} available{hint}"
        )


def store_problem(path: str) -> str | None:
    """Why a store cannot be opened or made at ``path`` (a reason to follow the path), or None.

    A sweep writes its store (a lock, chunks); ``load_sweep`` and ``load_map``
    read a finished one without writing, from a read-only folder too.
    """
    if os.path.lexists(path) and not os.path.isdir(path):
        return "exists and is not a directory"
    existing = os.path.realpath(path)  # (symlinks first, then "..", as the OS reads the path)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"cannot be made: {existing!r} is not a directory"
    if not os.access(existing, os.W_OK):
        return f"is not writable ({existing!r} is not; load_sweep and load_map read a finished store)"
    return None


def check_execution(*, threads: Any, progress: Any, store: Any, client: Any, device: Any) -> Execution:
    """Where and how a sweep runs, validated, as one ``Execution``.

    ``threads=None`` means ``numba.config.NUMBA_NUM_THREADS`` (all cores by
    default); ``device="cuda"`` raises an error saying what is missing unless
    a GPU can run the kernel here, or with a ``client``, where the workers are
    (each worker checks its own).
    """
    if threads is None:
        threads = numba.config.NUMBA_NUM_THREADS
    threads = check_int(threads, "threads", minimum=1, maximum=MAX_THREADS)
    progress = check_bool(progress, "progress")
    if store is not None and not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store must be a path (str or os.PathLike), got {type(store).__name__}")
    if store is not None and not isinstance(os.fspath(store), str):  # its files' names are joined to it as str
        raise TypeError(f"store must be a path as str, got one as {type(os.fspath(store)).__name__}")
    if store is not None and not os.fspath(store):
        raise ValueError("store must name a folder, got ''")
    if store is not None and (problem := store_problem(os.fspath(store))):
        raise ValueError(f"store {os.fspath(store)!r} {problem}")
    if client is not None and not all(
        callable(getattr(client, name, None)) for name in ("submit", "cancel", "nthreads", "map", "gather")
    ):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    device = check_choice(device, "device", DEVICES)
    if device == "cuda" and client is None:
        from . import _cuda  # only here: the core package never imports numba-cuda

        _cuda.require()
    return Execution(threads=threads, progress=bool(progress), store=store, client=client, device=device)
