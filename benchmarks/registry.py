"""One registry of implementations, feeding both the tests and the benchmarks.

``IMPLEMENTATIONS[task][name]`` is a function with the task's signature:

- ``forward(params, X) -> ypred``            params (9,), X (n, 2) -> (n,)
- ``sgd_step(params, x, y, lr) -> params``   one sample; returns new (9,)
- ``train(params, X, y, epochs, lr) -> (params, history)``  history (epochs,)

All take float64 NumPy arrays and leave them unmodified. ``REFERENCE`` names
the oracle that the others are compared with.
"""

import numpy as np

from fastbackprop import _kernels, reference

from .tutorial import TutorialNetwork

REFERENCE = "numpy reference"
KERNEL = "numba kernel"
TUTORIAL = "plain python"


def _kernel_forward(params, X):
    out = np.empty(X.shape[0])
    _kernels.forward(params, X, out, False)
    return out


def _kernel_sgd_step(params, x, y, lr):
    p = params.copy()
    _kernels.sgd_step(p, x, y, lr)
    return p


def _kernel_train(params, X, y, epochs, lr):
    p = params.copy()
    history = np.empty(epochs)
    _kernels.train(p, np.zeros(9), X, y, epochs, lr, lr, 0.0, history)
    return p, history


def _reference_train(params, X, y, epochs, lr):
    p, h = reference.train(params[None], X, y, epochs, lr)
    return p[0], h[0]


def _tutorial_forward(params, X):
    net = TutorialNetwork(params)
    return np.array([net.feedforward(x) for x in X.tolist()])


def _tutorial_sgd_step(params, x, y, lr):
    net = TutorialNetwork(params)
    net.step(x.tolist(), float(y), lr)
    return np.array(net.params)


def _tutorial_train(params, X, y, epochs, lr):
    net = TutorialNetwork(params)
    history = net.train(X.tolist(), y.tolist(), epochs, lr)
    return np.array(net.params), np.array(history)


IMPLEMENTATIONS = {
    "forward": {
        KERNEL: _kernel_forward,
        REFERENCE: lambda params, X: reference.forward(params[None], X)[0],
        TUTORIAL: _tutorial_forward,
    },
    "sgd_step": {
        KERNEL: _kernel_sgd_step,
        REFERENCE: lambda params, x, y, lr: reference.sgd_step(params[None], x, y, lr)[0],
        TUTORIAL: _tutorial_sgd_step,
    },
    "train": {
        KERNEL: _kernel_train,
        REFERENCE: _reference_train,
        TUTORIAL: _tutorial_train,
    },
}
