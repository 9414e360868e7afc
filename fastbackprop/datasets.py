"""Small datasets: the classic height/weight set and the Boolean functions.

Each function returns fresh ``(X, y)`` arrays: X float64 of shape (n, 2), y
float64 of shape (n,) with values in {0, 1}.
"""

import numpy as np


def gender():
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


def gender_queries():
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


def _truth_table(fn):
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([float(fn(int(a), int(b))) for a, b in X])
    return X, y


def xor():
    """XOR on {0, 1}^2: y = [0, 1, 1, 0]."""
    return _truth_table(lambda a, b: a ^ b)


def and_():
    """AND on {0, 1}^2: y = [0, 0, 0, 1]."""
    return _truth_table(lambda a, b: a & b)


def or_():
    """OR on {0, 1}^2: y = [0, 1, 1, 1]."""
    return _truth_table(lambda a, b: a | b)


#: Name -> loader, as used by the command line's ``--dataset``.
DATASETS = {"gender": gender, "xor": xor, "and": and_, "or": or_}


def load(name):
    """``(X, y)`` of a dataset by name: one of ``DATASETS``."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name]()
