"""Seed -> initial parameters: a counter-based, O(1)-per-seed map.

``Network(seed=i)`` and every seed sweep draw their starting parameters from
this map, so a sweep reproduces ``Network(seed=i).params`` bit for bit without
building a ``numpy.random.Generator`` per seed.

The map, for a seed ``s`` (an integer in [0, 2**63)) and parameter index ``k``:

1. ``key = mix64(s + SEED_OFFSET)`` (``mix64``: the SplitMix64 finaliser).
2. Attempt ``j = 0, 1, ...`` draws two uniforms ``u, v`` in [-1, 1) from
   ``mix64(key + c * GOLDEN)`` with counters ``c = 2*(32*k + j) + 1`` and ``c + 1``
   (53 high bits each, exactly representable).
3. Marsaglia's polar method accepts the first attempt with ``0 < s < 1`` where
   ``s = u*u + v*v`` and returns ``u * sqrt(-2 * log(s) / s)``, a standard
   normal deviate.

``init="uniform"`` takes instead the ``u`` of attempt 0 (counter
``c = 64*k + 1``), uniform on the 2**53 points ``j / 2**52 - 1`` of [-1, 1).
Either deviate is multiplied by ``init_scale`` (exactly itself at 1.0).

Only IEEE-754 operations that are correctly rounded everywhere (+, -, *, /,
sqrt, frexp) are used: ``log`` is written out below rather than taken from
libm or NumPy's SIMD loops, whose last bits differ between machines. The
functions taking arrays here are also compiled by Numba for scalars (see
``_kernels``); both give the same bits.
"""

import numpy as np

from ._layout import N_PARAMS

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
SEED_OFFSET = np.uint64(0x2545F4914F6CDD1D)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE_U64 = np.uint64(1)
_TWO_U64 = np.uint64(2)
_ATTEMPT_BITS = 32  # counters of parameter k start at 2 * k * 32
_TWO_M52 = 2.0**-52
_SQRT_HALF = 0.7071067811865476
_LN2_HI = 6.93147180369123816490e-01  # upper bits of ln 2: e * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10


def _mix64(z):
    """SplitMix64 finaliser on uint64 (array or scalar); wraps modulo 2**64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _uniform_pm1(h):
    """The 53 high bits of uint64 ``h`` as a float64 in [-1, 1), exactly."""
    return (h >> _S11).astype(np.float64) * _TWO_M52 - 1.0


def _log_unit(s, m, e):
    """log(s) for s in (0, 1), given ``m, e = frexp(s)``; error below 1 ulp or so.

    ``log(m)`` is ``2 atanh(t)``, ``t = (m - 1) / (m + 1)``, |t| <= 0.1716, summed
    to t**23 (truncation below 1e-18 relative).
    """
    small = m < _SQRT_HALF  # bring m into [sqrt(1/2), sqrt(2))
    m = m + m * small
    e = e - small
    t = (m - 1.0) / (m + 1.0)
    t2 = t * t
    p = 1.0 / 23.0
    p = 1.0 / 21.0 + t2 * p
    p = 1.0 / 19.0 + t2 * p
    p = 1.0 / 17.0 + t2 * p
    p = 1.0 / 15.0 + t2 * p
    p = 1.0 / 13.0 + t2 * p
    p = 1.0 / 11.0 + t2 * p
    p = 1.0 / 9.0 + t2 * p
    p = 1.0 / 7.0 + t2 * p
    p = 1.0 / 5.0 + t2 * p
    p = 1.0 / 3.0 + t2 * p
    p = 1.0 + t2 * p
    return e * _LN2_HI + (e * _LN2_LO + 2.0 * t * p)


def init_normal(seeds):
    """Standard-normal starting parameters for each seed.

    Parameters
    ----------
    seeds : ndarray of int64, shape (S,)
        Non-negative seeds (validated by the caller).

    Returns
    -------
    ndarray of float64, shape (S, 9)
        Row ``i`` is ``Network(seed=seeds[i]).params``.
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    key = _mix64(seeds.astype(np.uint64) + SEED_OFFSET)
    out = np.empty((seeds.shape[0], N_PARAMS))
    k = np.arange(N_PARAMS, dtype=np.uint64)
    # (S, 9) grids of keys and first counters; draw until every cell accepts.
    keys = np.repeat(key[:, None], N_PARAMS, axis=1).ravel()
    base = np.tile(_TWO_U64 * k * np.uint64(_ATTEMPT_BITS), seeds.shape[0])
    flat = out.reshape(-1)
    pending = np.arange(keys.shape[0])
    j = np.uint64(0)
    while pending.size:
        c = base[pending] + _TWO_U64 * j + _ONE_U64
        kp = keys[pending]
        u = _uniform_pm1(_mix64(kp + c * GOLDEN))
        v = _uniform_pm1(_mix64(kp + (c + _ONE_U64) * GOLDEN))
        s = u * u + v * v
        ok = (s > 0.0) & (s < 1.0)
        s, u = s[ok], u[ok]
        m, e = np.frexp(s)
        flat[pending[ok]] = u * np.sqrt(-2.0 * _log_unit(s, m, e) / s)
        pending = pending[~ok]
        j += _ONE_U64
    return out


def init_uniform(seeds):
    """U[-1, 1) starting parameters for each seed, (S, 9) float64 (``init="uniform"``)."""
    seeds = np.asarray(seeds, dtype=np.int64)
    key = _mix64(seeds.astype(np.uint64) + SEED_OFFSET)[:, None]
    c = _TWO_U64 * np.arange(N_PARAMS, dtype=np.uint64) * np.uint64(_ATTEMPT_BITS) + _ONE_U64
    return _uniform_pm1(_mix64(key + c * GOLDEN))


def starting_params(seeds, init="normal", init_scale=1.0):
    """Starting parameters of each seed for an init option, (S, 9) float64.

    ``init_scale`` is a scalar or one value per seed (S,).
    """
    base = init_normal(seeds) if init == "normal" else init_uniform(seeds)
    return np.asarray(init_scale, dtype=np.float64).reshape(-1, 1) * base
