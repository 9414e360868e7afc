"""How far may a float64 training run be from the exact one? A derived bound.

Two correct float64 implementations of the same training (the kernel with
its own exp and FMAs, the NumPy oracle with libm's exp and plain products)
differ by their rounding errors, amplified by the training dynamics: a fixed
tolerance is either too loose for most runs or too tight for some (an early
property test failed at 1e-9 on a run that amplifies rounding ~1e7 times).
This module computes, for one run, a first-order bound on
``|fl(run) - run|`` componentwise:

    bound_T = sum_t |J_T ... J_(t+1)| delta_t

where ``delta_t`` bounds the rounding error of step t on its own (running
error analysis, Higham, *Accuracy and Stability of Numerical Algorithms*
§3.3, over the operations of ``_kernels._partials``) and ``J_s`` is the
Jacobian of step s along the exact trajectory. The trajectory and the
Jacobians come from the NumPy oracle in extended precision (x87 long double,
unit roundoff 2**-64, 2**-11 of float64's), the Jacobians by central
differences. The absolute value is taken of each product of Jacobians, not of
each factor, so cancellation along the trajectory is kept and the bound stays
within ~100x of the errors seen.
"""

import math

import numpy as np

from fastbackprop import reference

U = 2.0**-53
#: The smallest subnormal: an operation whose result underflows errs by up to
#: half of it whatever the result's size (Higham's model with underflow, §2.2),
#: which no relative bound covers; each operation is allowed a whole one.
ETA = 2.0**-1074
#: Relative error of a computed sigmoid, in units of U: the kernel's exp is
#: within 5 U (measured 2.3 ulp = 4.7 U at worst), NumPy's within 1 U; 1 + e
#: and the division add 1 U each (8 U), doubled for margin.
K_SIGMOID = 16
#: The kernel's sigmoid is exactly 0 below -60, where the true value is
#: below exp(-60) = 8.8e-27: an absolute error no relative bound covers.
CLAMP_ERROR = 1e-26
#: The extended-precision reference has its own rounding error, 2**-11 of the
#: same bound; comparisons allow 2**-8 for it.
EXTENDED_SLACK = 1.0 + 2.0**-8

_LD = np.longdouble
_H = _LD(2.0) ** -20  # central-difference step: truncation ~1e-12 relative, rounding ~1e-13


def _neuron(wa, wb, b, a0, a1, ea0=0.0, ea1=0.0):
    """sigmoid(wa a0 + wb a1 + b) and a bound on its absolute rounding error."""
    z = wa * a0 + wb * a1 + b
    # Two products and two sums (or two FMAs): 3 U of the terms' magnitudes covers both.
    ez = 3 * U * (abs(wa * a0) + abs(wb * a1) + abs(b)) + 4 * ETA + abs(wa) * ea0 + abs(wb) * ea1
    h = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return h, h * (1.0 - h) * ez + K_SIGMOID * U * h + CLAMP_ERROR


def _prod(a, ea, b, eb):
    """a * b and a bound on its error, given bounds on the errors of a and b."""
    c = a * b
    return c, abs(b) * ea + abs(a) * eb + U * abs(c) + ETA


def step_error(p, x0, x1, y, lr):
    """Componentwise bound (9,) on the rounding error of one SGD step from p."""
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = p
    h1, eh1 = _neuron(w1, w2, b1, x0, x1)
    h2, eh2 = _neuron(w3, w4, b2, x0, x1)
    yp, eyp = _neuron(w5, w6, b3, h1, h2, eh1, eh2)
    # d = h (1 - h): 1 - h carries h's absolute error, and two roundings.
    d1, d2, do = h1 * (1 - h1), h2 * (1 - h2), yp * (1 - yp)
    ed1, ed2, edo = eh1 + 3 * U * d1 + ETA, eh2 + 3 * U * d2 + ETA, eyp + 3 * U * do + ETA
    s_o = lr * -2.0 * (y - yp)
    es_o = 2 * lr * eyp + 2 * U * abs(s_o) + 2 * ETA
    s_h1, es_h1 = _prod(s_o, es_o, *_prod(w5, 0.0, do, edo))
    s_h2, es_h2 = _prod(s_o, es_o, *_prod(w6, 0.0, do, edo))
    steps = (
        _prod(s_h1, es_h1, *_prod(x0, 0.0, d1, ed1)),
        _prod(s_h1, es_h1, *_prod(x1, 0.0, d1, ed1)),
        _prod(s_h2, es_h2, *_prod(x0, 0.0, d2, ed2)),
        _prod(s_h2, es_h2, *_prod(x1, 0.0, d2, ed2)),
        _prod(s_o, es_o, *_prod(h1, eh1, do, edo)),
        _prod(s_o, es_o, *_prod(h2, eh2, do, edo)),
        _prod(s_h1, es_h1, d1, ed1),
        _prod(s_h2, es_h2, d2, ed2),
        _prod(s_o, es_o, do, edo),
    )
    # p - step: the step's error plus the subtraction's rounding.
    return np.array([e + U * abs(pk - g) + ETA for (g, e), pk in zip(steps, p)])


def mse_error(p, X, y):
    """Bound on the rounding error of the full-dataset MSE at parameters p."""
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = p
    total = err = 0.0
    for (x0, x1), yi in zip(X, y):
        h1, eh1 = _neuron(w1, w2, b1, x0, x1)
        h2, eh2 = _neuron(w3, w4, b2, x0, x1)
        yp, eyp = _neuron(w5, w6, b3, h1, h2, eh1, eh2)
        total += (yi - yp) ** 2
        err += 2 * abs(yi - yp) * eyp
    n = X.shape[0]
    # n squares, n - 1 sums, one division, each at most U of the total.
    return err / n + (n + 3) * (U * total / n + ETA)


def _central(f, p):
    """Central differences of f at p (1, 9) along each parameter: f(p + h e_k) - f(p - h e_k) / 2h."""
    E = np.eye(p.shape[1], dtype=_LD) * _H
    out = f(np.concatenate([p + E, p - E]))
    return (out[: p.shape[1]] - out[p.shape[1] :]) / (2 * _H)


def exact_run(params, X, y, epochs, lr):
    """The exact run (to extended precision) and first-order bounds on a float64 run's distance from it.

    Returns
    -------
    params : ndarray of longdouble, shape (9,)
        Final parameters of the exact run (kept in extended precision: rounded
        to float64 they would be up to half an ulp off, as large as the bound).
    params_bound : ndarray of float64, shape (9,)
        Bound on ``|float64 final params - params|``.
    history : ndarray of longdouble, shape (epochs,)
        Full-dataset MSE after each epoch of the exact run.
    history_bound : ndarray of float64, shape (epochs,)
        Bound on a float64 run's distance from ``history``.
    """
    Xl, yl, lrl = X.astype(_LD), y.astype(_LD), _LD(lr)
    p = params.astype(_LD)[None]
    steps = epochs * X.shape[0]
    # products[s] = J_t ... J_(s+1) after step t: how step s's error has been carried.
    products = np.empty((steps, 9, 9))
    deltas = np.empty((steps, 9))
    history, history_bound = np.empty(epochs, dtype=_LD), np.empty(epochs)
    bound = np.zeros(9)
    t = 0
    for e in range(epochs):
        for i in range(X.shape[0]):
            J = _central(lambda q, i=i: reference.sgd_step(q, Xl[i], yl[i], lrl), p).T.astype(np.float64)
            deltas[t] = step_error(p[0].astype(np.float64), X[i, 0], X[i, 1], y[i], lr)
            products[:t] = np.matmul(J, products[:t])
            products[t] = np.eye(9)
            p = reference.sgd_step(p, Xl[i], yl[i], lrl)
            t += 1
        bound = np.einsum("sij,sj->i", np.abs(products[:t]), deltas[:t])
        grad = _central(lambda q: reference.mse(q, Xl, yl), p).astype(np.float64)
        history[e] = reference.mse(p, Xl, yl)[0]
        history_bound[e] = np.abs(grad) @ bound + mse_error(p[0].astype(np.float64), X, y)
    return p[0], bound, history, history_bound
