"""The one place the flat parameter layout is defined.

Every parameter vector in fastbackprop is a float array of length 9 in this
order. Kernels, the NumPy reference, the seed map and the tests all index it
through these names.
"""

PARAM_NAMES = ("w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3")
N_PARAMS = len(PARAM_NAMES)
W1, W2, W3, W4, W5, W6, B1, B2, B3 = range(N_PARAMS)
