import numba
import numpy as np
import pytest

from fastbackprop import datasets

#: Datasets every kernel is checked on.
DATASETS = {"gender": datasets.gender, "xor": datasets.xor}


@pytest.fixture(params=sorted(DATASETS))
def dataset(request):
    return DATASETS[request.param]()


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)

#: Under NUMBA_DISABLE_JIT=1 (the coverage run) kernels are plain Python, about
#: 10^4 times slower: tests that train many networks shrink their epochs.
JIT = not numba.config.DISABLE_JIT
SWEEP_EPOCHS = 3000 if JIT else 3
