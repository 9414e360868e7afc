"""Compiled kernels: forward pass, hand-derived backprop, SGD, training, sweeps.

Private. Arrays arrive validated, C-contiguous and of one float dtype
(float64, or float32 for sweeps); nothing here checks its input. Every kernel
is generic over the float dtype: constants go through ``_like`` so a float32
kernel never silently computes in float64.

The sigmoid is computed by ``_sigmoid`` (exp written out as arithmetic) rather
than ``math.exp``: libm calls cannot be vectorised across seeds, and the
single-network kernels use the same code so that a sweep reproduces
``Network.train`` bit for bit. tanh is built on it, and each training kernel
exists per activation and with or without momentum (``training_kernels``),
compiled on first use.

The per-network functions (``_init_params_into``, ``_activations``,
``_apply_step``, ``_momentum_step`` and what they call) are also compiled
for NVIDIA GPUs by numba-cuda (``_cuda``), so they use only what both targets
lower the same way: LLVM intrinsics (``llvm.fma``, ``llvm.floor``) rather
than NumPy ufuncs on scalars.
"""

import math
import typing

import numpy as np
from llvmlite import ir
from numba import config, types
from numba.extending import intrinsic, overload

from . import _seeding
from ._jit import INLINE, OPTS, jit
from ._layout import B1, B2, B3, N_PARAMS, W1, W2, W3, W4, W5, W6

#: Lanes (seeds) trained together by one block of the sweep kernel; a multiple
#: of every vector width (8 f64 / 16 f32 per 512-bit register) and enough
#: independent dependency chains to keep the FP pipes busy.
LANES = 128

#: Inputs to the sigmoid are clamped to [-SIGMOID_CLAMP, SIGMOID_CLAMP]; below
#: it the sigmoid is exactly 0, above it rounds to exactly 1 in both dtypes.
SIGMOID_CLAMP = 60.0


# --------------------------------------------------------------------------
# dtype-generic helpers that compile to single instructions
# --------------------------------------------------------------------------
def _like(x, v):
    """``v`` as a scalar of ``x``'s float type (a compile-time constant)."""
    return np.asarray(x).dtype.type(v)


# Typing and code generation below run only when Numba compiles (in every JIT
# test run), never under NUMBA_DISABLE_JIT, hence the coverage pragmas.
@overload(_like, inline="always")
def _like_overload(x, v):  # pragma: no cover
    if isinstance(x, types.Float):
        to = x

        def impl(x, v):
            return to(v)

        return impl
    return None


def _at(x, lane):
    """x[lane] for one input per lane (an array), x for one input shared by every lane (a scalar)."""
    return x[lane] if isinstance(x, np.ndarray) else x


@overload(_at, inline="always")
def _at_overload(x, lane):  # pragma: no cover
    if isinstance(x, types.Array):
        return lambda x, lane: x[lane]
    return lambda x, lane: x


if config.DISABLE_JIT:

    def _exp2i(k):
        """2**k for an integral float ``k`` well inside the exponent range."""
        if k != k:  # NaN in, NaN out (the compiled version's product is NaN too)
            return k
        return np.ldexp(_like(k, 1.0), int(k))

else:  # pragma: no cover - compile time only

    @intrinsic
    def _exp2i(typingctx, k):
        """2**k built from exponent bits (k integral, |k| < 126): three operations.

        float32: convert k to an integer, add the bias, shift it into the
        exponent field. float64: AVX2 has no float64-to-int64 vector
        conversion (LLVM would convert one lane at a time: 10 % of a float64
        sweep), so k + 1.5 * 2**52 stands in for it: that sum holds k in its
        low mantissa bits, exactly, and the shift drops the rest.
        """
        if not isinstance(k, types.Float):
            return None
        bits, bias, shift = (64, 1023, 52) if k.bitwidth == 64 else (32, 127, 23)

        def codegen(context, builder, sig, args):
            ity = ir.IntType(bits)
            if bits == 64:
                i = builder.bitcast(builder.fadd(args[0], ir.Constant(args[0].type, 1.5 * 2.0**52)), ity)
            else:
                i = builder.fptosi(args[0], ity)
            i = builder.add(i, ir.Constant(ity, bias))
            i = builder.shl(i, ir.Constant(ity, shift))
            return builder.bitcast(i, args[0].type)

        return k(k), codegen


if config.DISABLE_JIT:

    def _fma(a, b, c):
        """a * b + c, rounded twice: the pure-Python (coverage) run is not bit-exact."""
        return a * b + c

else:  # pragma: no cover - compile time only

    @intrinsic
    def _fma(typingctx, a, b, c):
        """a * b + c with one rounding: llvm.fma, one instruction, same in every lane."""
        if not (isinstance(a, types.Float) and a == b == c):
            return None

        def codegen(context, builder, sig, args):
            ty = args[0].type
            fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty, ty, ty]))
            return builder.call(fn, args)

        return a(a, b, c), codegen


#: On a GPU, the float32 reciprocal as ``_recip`` writes it; False: a division
#: (``rcp.rn.f32``, the kernel before), for side-by-side timings
#: (``benchmarks/gpu_ab.py --division``). Set it before the first GPU kernel compiles.
GPU_RECIPROCAL_FAST_PATH = True
#: The same for float64 (``rcp.rn.f64``'s fast path), off until timed on a GPU: it
#: takes a third of the instructions off an epoch but spills at 64 registers
#: (``benchmarks/gpu_ab.py --reciprocal64``).
GPU_RECIPROCAL64_FAST_PATH = False

if config.DISABLE_JIT:

    def _recip(d):
        """1 / d, correctly rounded."""
        return _like(d, 1.0) / d

else:  # pragma: no cover - compile time only

    @intrinsic
    def _recip(typingctx, d):
        """1 / d, correctly rounded, for 1 <= d < 2**126 (the sigmoid's 1 + exp(-z), below 2**87).

        On the CPU a division. On a GPU, the fast path that ptxas writes for
        the correctly rounded reciprocal, without the exponent test and branch
        that send other divisors to its slow path: for such d the test always
        passes. In float32 (``rcp.rn.f32``): MUFU.RCP, then one Newton step of
        two FMAs. In float64 (``rcp.rn.f64``, with GPU_RECIPROCAL64_FAST_PATH):
        MUFU.RCP64H of d's high word, the low word ptxas pairs with it (d's high
        word + 0x300402, which is also its range test), then two Newton steps
        of five FMAs. The same instructions on the same values, so the same
        bits (the fast path negates ``d * r - 1``; ``1 - d * r`` is the same
        number, rounded the same way). Without the branch an epoch of the
        default float32 kernel is about a third fewer instructions.
        """
        if not isinstance(d, types.Float):
            return None

        def codegen(context, builder, sig, args):
            (x,) = args
            one = ir.Constant(x.type, 1.0)
            gpu = builder.module.triple.startswith("nvptx")
            f32 = x.type == ir.FloatType() and GPU_RECIPROCAL_FAST_PATH
            f64 = x.type == ir.DoubleType() and GPU_RECIPROCAL64_FAST_PATH
            if not (gpu and (f32 or f64)):
                return builder.fdiv(one, x)
            fma = builder.module.declare_intrinsic("llvm.fma", [x.type], ir.FunctionType(x.type, [x.type] * 3))
            if f32:
                r = builder.asm(ir.FunctionType(x.type, [x.type]), "rcp.approx.ftz.f32 $0, $1;", "=f,f", [x], False)
                e = builder.call(fma, [builder.fsub(ir.Constant(x.type, -0.0), x), r, one])  # (NVVM has no fneg)
                return builder.call(fma, [r, e, r])
            minus_d = builder.fsub(ir.Constant(x.type, -0.0), x)
            i32, i64 = ir.IntType(32), ir.IntType(64)

            def high_word(v):
                return builder.trunc(builder.lshr(builder.bitcast(v, i64), ir.Constant(i64, 32)), i32)

            approx = builder.asm(ir.FunctionType(x.type, [x.type]), "rcp.approx.ftz.f64 $0, $1;", "=d,d", [x], False)
            low = builder.add(high_word(x), ir.Constant(i32, 0x300402))
            words = builder.or_(
                builder.shl(builder.zext(high_word(approx), i64), ir.Constant(i64, 32)), builder.zext(low, i64)
            )
            y = builder.bitcast(words, x.type)
            e = builder.call(fma, [minus_d, y, one])
            y = builder.call(fma, [y, builder.call(fma, [e, e, e]), y])
            return builder.call(fma, [y, builder.call(fma, [minus_d, y, one]), y])

        return d(d), codegen


if config.DISABLE_JIT:
    _floor = np.floor
else:  # pragma: no cover - compile time only

    @intrinsic
    def _floor(typingctx, x):
        """floor(x) as llvm.floor: one instruction on every target (np.floor has no CUDA lowering)."""
        if not isinstance(x, types.Float):
            return None

        def codegen(context, builder, sig, args):
            ty = args[0].type
            fn = builder.module.declare_intrinsic("llvm.floor", [ty], ir.FunctionType(ty, [ty]))
            return builder.call(fn, args)

        return x(x), codegen


if config.DISABLE_JIT:

    def _flag_set(flag):
        return flag[0] != 0

else:  # pragma: no cover - compile time only

    @intrinsic
    def _flag_set(typingctx, flag):
        """flag[0] != 0 for a uint8 array, read from memory every time (an atomic load).

        Another thread sets the flag while a kernel runs: a plain load could
        be hoisted out of the loop that checks it.
        """
        if not (isinstance(flag, types.Array) and flag.dtype == types.uint8):
            return None

        def codegen(context, builder, sig, args):
            data = context.make_array(sig.args[0])(context, builder, args[0]).data
            value = builder.load_atomic(data, ordering="monotonic", align=1)
            return builder.icmp_unsigned("!=", value, ir.Constant(ir.IntType(8), 0))

        return types.boolean(flag), codegen


# --------------------------------------------------------------------------
# exp and the sigmoid
# --------------------------------------------------------------------------
# exp(x) = 2**k * exp(r), k = round(x / ln 2), r = x - k ln 2 (|r| <= ln2/2),
# with ln 2 split Cody-Waite style so that k * LN2_HI is exact, and exp(r) a
# Taylor polynomial: degree 12 in float64 (truncation < 2e-16 relative),
# degree 6 in float32 (< 1.2e-7), evaluated by Estrin's scheme (a few
# independent FMAs per level instead of one long Horner chain: the single-run
# kernel is latency bound). Valid for |x| <= SIGMOID_CLAMP.
_LOG2E = 1.4426950408889634


@jit(**INLINE)
def _exp64_parts(x):
    """(p, 2**k) with exp(x) = p * 2**k, a product that is exact (2**k normal)."""
    k = _floor(_fma(x, _LOG2E, 0.5))
    r = _fma(k, -_seeding._LN2_LO, _fma(k, -_seeding._LN2_HI, x))
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    a = _fma(r2, _fma(r, 1.0 / 6.0, 0.5), 1.0 + r)
    b = _fma(r2, _fma(r, 1.0 / 5040.0, 1.0 / 720.0), _fma(r, 1.0 / 120.0, 1.0 / 24.0))
    c = _fma(r2, _fma(r, 1.0 / 39916800.0, 1.0 / 3628800.0), _fma(r, 1.0 / 362880.0, 1.0 / 40320.0))
    p = _fma(r8, _fma(r4, 1.0 / 479001600.0, c), _fma(r4, b, a))
    return p, _exp2i(k)


@jit(**INLINE)
def _exp32_parts(x):
    """(p, 2**k) with exp(x) = p * 2**k, a product that is exact (2**k normal)."""
    f = np.float32
    k = _floor(_fma(x, f(_LOG2E), f(0.5)))
    r = _fma(k, f(2.12194440e-4), _fma(k, f(-0.693359375), x))
    r2 = r * r
    a = _fma(r2, _fma(r, f(1.0 / 6.0), f(0.5)), f(1.0) + r)
    b = _fma(r2, f(1.0 / 720.0), _fma(r, f(1.0 / 120.0), f(1.0 / 24.0)))
    return _fma(r2 * r2, b, a), _exp2i(k)


@jit(**INLINE)
def _exp64(x):
    p, scale = _exp64_parts(x)
    return p * scale


@jit(**INLINE)
def _exp32(x):
    p, scale = _exp32_parts(x)
    return p * scale


def _exp(x):
    """exp(x) for |x| <= SIGMOID_CLAMP, in x's float type."""
    return _exp64(x) if np.asarray(x).dtype == np.float64 else _exp32(x)


def _one_plus_exp(x):
    """1 + exp(x) for |x| <= SIGMOID_CLAMP, in x's float type, as one FMA, fma(p, 2**k, 1).

    p * 2**k is exact, so this is 1 + _exp(x) rounded once, the same number, in
    one operation where a multiply and an add depended on each other: one
    instruction and one step fewer in each sigmoid's chain.
    """
    return _one_plus(_exp64_parts(x) if np.asarray(x).dtype == np.float64 else _exp32_parts(x))


@jit(**INLINE)
def _one_plus(parts):
    """1 + p * scale of ``parts`` = (p, scale), rounded once."""
    p, scale = parts
    return _fma(p, scale, _like(p, 1.0))


# Not inline="always": numba-cuda fails to type these overloads inlined at IR
# level; on the CPU LLVM inlines them (the sweep's assembly is the same).
@overload(_exp)
def _exp_overload(x):  # pragma: no cover - compile time only
    if x == types.float64:
        return lambda x: _exp64(x)
    if x == types.float32:
        return lambda x: _exp32(x)
    return None


@overload(_one_plus_exp)
def _one_plus_exp_overload(x):  # pragma: no cover - compile time only
    if x == types.float64:
        return lambda x: _one_plus(_exp64_parts(x))
    if x == types.float32:
        return lambda x: _one_plus(_exp32_parts(x))
    return None


@jit(**INLINE)
def _sigmoid(z):
    """1 / (1 + exp(-z)); exactly 0 below -SIGMOID_CLAMP, NaN stays NaN."""
    c = _like(z, SIGMOID_CLAMP)
    zc = c if z > c else z  # written as selects: they vectorise, max/min need not keep NaN
    zc = -c if zc < -c else zc
    s = _recip(_one_plus_exp(-zc))
    return _like(z, 0.0) if z < -c else s


@jit(**INLINE)
def _tanh(z):
    """tanh(z) = 2 sigmoid(2z) - 1: two more exact-or-once-rounded operations on the sigmoid.

    2z and 2s are exact, so the absolute error is a few ulps of 1, as the
    sigmoid's; saturates to exactly -1 and 1 beyond |z| = SIGMOID_CLAMP / 2.
    """
    two = _like(z, 2.0)
    return _fma(two, _sigmoid(two * z), _like(z, -1.0))  # 2s is exact: one rounding, as 2s - 1


def _activate(z, tanh):
    """The activation of a neuron with pre-activation z: tanh if ``tanh``, else sigmoid."""
    return _tanh(z) if tanh else _sigmoid(z)


# An overload rather than a branch: where ``tanh`` is a compile-time constant
# (every training kernel) only the chosen activation is typed and compiled,
# which halves the kernels' compile time. Not inline="always", as for _exp.
@overload(_activate)
def _activate_overload(z, tanh):  # pragma: no cover - compile time only
    if isinstance(tanh, types.BooleanLiteral):
        if tanh.literal_value:
            return lambda z, tanh: _tanh(z)
        return lambda z, tanh: _sigmoid(z)
    return lambda z, tanh: _tanh(z) if tanh else _sigmoid(z)


@jit(**INLINE)
def _slope(h, tanh):
    """d activation / d pre-activation, from the activation h itself."""
    one = _like(h, 1.0)
    if tanh:
        return one - h * h  # tanh' = 1 - tanh**2
    return h * (one - h)  # sigmoid' = sigmoid (1 - sigmoid)


# --------------------------------------------------------------------------
# One sample: forward pass and the 12 hand-derived partials
# --------------------------------------------------------------------------
@jit(**INLINE)
def _neuron(wa, wb, b, a0, a1, tanh):
    """act(wa * a0 + wb * a1 + b): h1, h2 and ypred are all of this form."""
    return _activate(_fma(wa, a0, _fma(wb, a1, b)), tanh)


@jit(**INLINE)
def _partials(w5, w6, x0, x1, y, h1, h2, ypred, scale, scale_out, tanh):
    """The step of each of the 9 parameters, in layout order, for one sample.

    ``scale * dL/dp`` for the hidden layer (w1-w4, b1, b2) and
    ``scale_out * dL/dp`` for the output neuron (w5, w6, b3): ``scale = scale_out
    = 1`` gives the gradient of ``L = (y - ypred)**2``, the two learning rates
    the SGD step. Takes the sample's activations. The chain-rule products keep
    the classic order ``lr * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w1``.
    """
    # h1 = act(sum_h1), sum_h1 = w1*x0 + w2*x1 + b1; act'(sum_h1) from h1
    d_h1_d_sum = _slope(h1, tanh)
    d_h1_d_w1 = x0 * d_h1_d_sum
    d_h1_d_w2 = x1 * d_h1_d_sum
    d_h1_d_b1 = d_h1_d_sum
    # h2 = act(sum_h2), sum_h2 = w3*x0 + w4*x1 + b2
    d_h2_d_sum = _slope(h2, tanh)
    d_h2_d_w3 = x0 * d_h2_d_sum
    d_h2_d_w4 = x1 * d_h2_d_sum
    d_h2_d_b2 = d_h2_d_sum
    # ypred = act(sum_o1), sum_o1 = w5*h1 + w6*h2 + b3
    d_ypred_d_sum = _slope(ypred, tanh)
    d_ypred_d_w5 = h1 * d_ypred_d_sum
    d_ypred_d_w6 = h2 * d_ypred_d_sum
    d_ypred_d_b3 = d_ypred_d_sum
    d_ypred_d_h1 = w5 * d_ypred_d_sum
    d_ypred_d_h2 = w6 * d_ypred_d_sum
    # L = (y - ypred)**2
    d_L_d_ypred = _like(x0, -2.0) * (y - ypred)

    s_o = scale * d_L_d_ypred  # with scale_out == scale, s_out is the same number
    s_out = scale_out * d_L_d_ypred
    s_h1 = s_o * d_ypred_d_h1
    s_h2 = s_o * d_ypred_d_h2
    return (
        s_h1 * d_h1_d_w1,  # W1
        s_h1 * d_h1_d_w2,  # W2
        s_h2 * d_h2_d_w3,  # W3
        s_h2 * d_h2_d_w4,  # W4
        s_out * d_ypred_d_w5,  # W5
        s_out * d_ypred_d_w6,  # W6
        s_h1 * d_h1_d_b1,  # B1
        s_h2 * d_h2_d_b2,  # B2
        s_out * d_ypred_d_b3,  # B3
    )


# Parameters live in a flat array ``p`` at ``p[k * stride + off]`` for k in the
# layout: stride 1 for one network, stride ROW (lane ``off``) in a sweep block.
@jit(**INLINE)
def _activations(p, off, stride, x0, x1, tanh):
    """(h1, h2, ypred) of the network stored at (off, stride) in p."""
    h1 = _neuron(p[W1 * stride + off], p[W2 * stride + off], p[B1 * stride + off], x0, x1, tanh)
    h2 = _neuron(p[W3 * stride + off], p[W4 * stride + off], p[B2 * stride + off], x0, x1, tanh)
    ypred = _neuron(p[W5 * stride + off], p[W6 * stride + off], p[B3 * stride + off], h1, h2, tanh)
    return h1, h2, ypred


@jit(**INLINE)
def _apply_step(p, off, stride, x0, x1, y, lr, lr_out, h1, h2, ypred, tanh):
    """One SGD step, in place, of the network at (off, stride), given its activations."""
    d = _partials(p[W5 * stride + off], p[W6 * stride + off], x0, x1, y, h1, h2, ypred, lr, lr_out, tanh)
    p[W1 * stride + off] -= d[W1]
    p[W2 * stride + off] -= d[W2]
    p[W3 * stride + off] -= d[W3]
    p[W4 * stride + off] -= d[W4]
    p[W5 * stride + off] -= d[W5]
    p[W6 * stride + off] -= d[W6]
    p[B1 * stride + off] -= d[B1]
    p[B2 * stride + off] -= d[B2]
    p[B3 * stride + off] -= d[B3]


@jit(**INLINE)
def _momentum_update(p, u, at, u_off, m, d):
    """Classical momentum for one parameter, with u = -v: u <- m u + d, p <- p - u.

    The same numbers as v <- m v - d, p <- p + v (negation is exact), with no
    negations to compute. u is exactly d when m == 0, whatever u held (0 * u
    would turn -0 into +0 and an infinite u into NaN), so that p - u is then
    p - d, bit for bit: a network with momentum 0 follows plain SGD even in a
    block of networks with momentum.
    """
    held = u[at + u_off]  # loaded unconditionally: a load inside the select would stop vectorisation
    uk = d if m == _like(m, 0.0) else _fma(m, held, d)
    u[at + u_off] = uk
    p[at] -= uk


@jit(**INLINE)
def _momentum_step(p, u, off, stride, u_off, x0, x1, y, lr, lr_out, m, h1, h2, ypred, tanh):
    """One SGD step with classical momentum, in place: v <- m v - lr dL/dp, p <- p + v.

    ``u`` holds the negated velocities -v, stored like the parameters at
    (off + u_off, stride). A sweep block keeps them in the parameters' own
    workspace (``u`` is ``p``, ``u_off`` = 9 rows): two arrays written in one
    loop would need run-time overlap checks, and LLVM would not vectorise it.
    """
    d = _partials(p[W5 * stride + off], p[W6 * stride + off], x0, x1, y, h1, h2, ypred, lr, lr_out, tanh)
    # Written out, as _apply_step: a loop over the tuple d would index it at run time.
    _momentum_update(p, u, W1 * stride + off, u_off, m, d[W1])
    _momentum_update(p, u, W2 * stride + off, u_off, m, d[W2])
    _momentum_update(p, u, W3 * stride + off, u_off, m, d[W3])
    _momentum_update(p, u, W4 * stride + off, u_off, m, d[W4])
    _momentum_update(p, u, W5 * stride + off, u_off, m, d[W5])
    _momentum_update(p, u, W6 * stride + off, u_off, m, d[W6])
    _momentum_update(p, u, B1 * stride + off, u_off, m, d[B1])
    _momentum_update(p, u, B2 * stride + off, u_off, m, d[B2])
    _momentum_update(p, u, B3 * stride + off, u_off, m, d[B3])


@jit(**INLINE)
def _squared_error(p, x0, x1, y, tanh):
    """(y - ypred)**2 of the single network p (9,) on one sample."""
    err = y - _activations(p, 0, 1, x0, x1, tanh)[2]
    return err * err


@jit(**INLINE)
def _mse(p, X, y, tanh):
    acc = _like(y[0], 0.0)
    for i in range(X.shape[0]):
        acc += _squared_error(p, X[i, 0], X[i, 1], y[i], tanh)
    return acc / _like(y[0], X.shape[0])


# --------------------------------------------------------------------------
# Single-network kernels
# --------------------------------------------------------------------------
@jit(**OPTS)
def forward(params, X, out, tanh):
    """out[i] = ypred(X[i]) for params (9,), X (n, 2), out (n,)."""
    for i in range(X.shape[0]):
        out[i] = _activations(params, 0, 1, X[i, 0], X[i, 1], tanh)[2]


@jit(**OPTS)
def gradient(params, x, y, out, tanh):
    """out (9,) = dL/dparams for one sample x (2,), target y."""
    h1, h2, ypred = _activations(params, 0, 1, x[0], x[1], tanh)
    one = _like(y, 1.0)
    g = _partials(params[W5], params[W6], x[0], x[1], y, h1, h2, ypred, one, one, tanh)
    for k in range(N_PARAMS):
        out[k] = g[k]


@jit(**OPTS)
def sgd_step(params, x, y, lr):
    """One in-place SGD step of the sigmoid network params (9,) on sample x (2,), target y."""
    h1, h2, ypred = _activations(params, 0, 1, x[0], x[1], False)
    _apply_step(params, 0, 1, x[0], x[1], y, lr, lr, h1, h2, ypred, False)


@jit(**OPTS)
def mse(params, X, y, tanh):
    """Full-dataset mean squared error."""
    return _mse(params, X, y, tanh)


@jit(**OPTS)
def within_margin(params, X, y, margin, tanh, out):
    """out[s] = every |y[i] - ypred| < margin for network params[s] (S, 9); one dtype F throughout.

    The same forward arithmetic as training, so it agrees with the sweep's
    per-epoch test of the same criterion.
    """
    for s in range(params.shape[0]):
        ok = True
        for i in range(X.shape[0]):
            err = y[i] - _activations(params[s], 0, 1, X[i, 0], X[i, 1], tanh)[2]
            ok = ok and abs(err) < margin  # NaN is never within
        out[s] = ok


# --------------------------------------------------------------------------
# Seed map (compiled twin of fastbackprop._seeding, same bits)
# --------------------------------------------------------------------------
# Not cached on their own: Numba keys a cache entry on the source file of the
# function (_seeding.py), so an entry made under other flags would be reused.
# The kernels that call them are cached, with these compiled in.
_mix64 = jit(**dict(OPTS, cache=False))(_seeding._mix64)
_log_unit = jit(**dict(OPTS, cache=False))(_seeding._log_unit)
_GOLDEN = _seeding.GOLDEN
_SEED_OFFSET = _seeding.SEED_OFFSET
_U1, _U2, _U11 = _seeding._ONE_U64, _seeding._TWO_U64, _seeding._S11
_ATTEMPT_BITS = np.uint64(_seeding._ATTEMPT_BITS)


@jit(**OPTS)
def _uniform_pm1(h):
    return np.float64(h >> _U11) * _seeding._TWO_M52 - 1.0


@jit(**OPTS)
def _first_counter(k):
    """The counter of parameter k's first draw (as ``_seeding`` numbers them)."""
    return _U2 * np.uint64(k) * _ATTEMPT_BITS + _U1


@jit(**OPTS)
def _normal(key, k):
    c = _first_counter(k)
    while True:
        u = _uniform_pm1(_mix64(key + c * _GOLDEN))
        v = _uniform_pm1(_mix64(key + (c + _U1) * _GOLDEN))
        s = u * u + v * v
        if s > 0.0 and s < 1.0:
            m, e = math.frexp(s)
            return u * math.sqrt(-2.0 * _log_unit(s, m, e) / s)
        c += _U2


@jit(**OPTS)
def _uniform(key, k):
    return _uniform_pm1(_mix64(key + _first_counter(k) * _GOLDEN))


@jit(**OPTS)
def _init_params_into(seed, uniform, scale, out):
    """out (9,) float64 = the start of ``seed``: standard normal, or U[-1, 1) when ``uniform``, times scale."""
    key = _mix64(np.uint64(seed) + _SEED_OFFSET)
    for k in range(N_PARAMS):
        out[k] = scale * (_uniform(key, k) if uniform else _normal(key, k))


@jit(**OPTS)
def init_params(seeds, uniform, scale, out):
    """out[i] (S, 9) float64 = starting parameters of seeds[i] (S,) int64.

    Standard normal, or U[-1, 1) when ``uniform``, times scale[i] (S,) float64.
    """
    for i in range(seeds.shape[0]):
        _init_params_into(seeds[i], uniform, scale[i], out[i])


# --------------------------------------------------------------------------
# Training: one network, and seed sweeps of LANES networks per block
# vectorised across the lane axis. One pair of kernels per activation and
# momentum on/off (``training_kernels``), each compiled on first use: a
# default sweep compiles and runs exactly the code it did before the options.
# --------------------------------------------------------------------------
# A sweep block's workspace is one array of rows of ROW elements, lane
# ``lane`` of row ``r`` at ``r * ROW + lane``: the 9 parameters (layout order),
# the 9 negated velocities (momentum), the three activations and the three
# per-network settings. One array, constant row offsets: LLVM sees that the
# rows a loop writes never overlap those it reads, so it vectorises without
# run-time overlap checks. Rows are padded by 16 elements so that no two rows
# start a multiple of 4 KiB apart: a load whose address has the low 12 bits of
# a store just made waits for that store on x86 ("4K aliasing"), which cost
# float32 momentum sweeps a third of their speed with rows of exactly 128 lanes.
ROW = LANES + 16
_U = N_PARAMS  # first velocity row
_H1, _H2, _YP, _LR, _LRO, _M = range(2 * N_PARAMS, 2 * N_PARAMS + 6)
_ROWS = 2 * N_PARAMS + 6


@jit(**INLINE)
def _block_activations(B, x0, x1, tanh):
    """Activations of every lane of a block workspace B into its rows H1, H2, YP: for one
    sample (x0, x1 scalars), or for one sample per lane (x0, x1 arrays of LANES).

    One pass over the lanes per neuron rather than one pass for the whole
    step: each pass has a short dependency chain per lane, so the core
    overlaps many lanes instead of waiting on one long chain, and one sigmoid
    per loop body leaves registers for its constants. Same operations, in the
    same order, as ``_activations``.
    """
    for lane in range(LANES):
        B[_H1 * ROW + lane] = _neuron(
            B[W1 * ROW + lane], B[W2 * ROW + lane], B[B1 * ROW + lane], _at(x0, lane), _at(x1, lane), tanh
        )
    for lane in range(LANES):
        B[_H2 * ROW + lane] = _neuron(
            B[W3 * ROW + lane], B[W4 * ROW + lane], B[B2 * ROW + lane], _at(x0, lane), _at(x1, lane), tanh
        )
    for lane in range(LANES):
        B[_YP * ROW + lane] = _neuron(
            B[W5 * ROW + lane], B[W6 * ROW + lane], B[B3 * ROW + lane], B[_H1 * ROW + lane], B[_H2 * ROW + lane], tanh
        )


@jit(**OPTS)
def _block_loss(B, X, y, loss, outside, worst, largest, tanh, margin):
    """loss[lane] = full-dataset MSE of each lane of the block workspace B; with a
    margin > 0, outside[lane] = samples whose |y - ypred| is not below it;
    worst[lane] = the sample of the largest squared error (largest: workspace)."""
    for lane in range(LANES):
        loss[lane] = _like(y[0], 0.0)
        outside[lane] = 0
        worst[lane] = 0
        largest[lane] = _like(y[0], 0.0)
    for i in range(X.shape[0]):
        _block_activations(B, X[i, 0], X[i, 1], tanh)
        for lane in range(LANES):
            err = y[i] - B[_YP * ROW + lane]
            sq = err * err
            loss[lane] += sq
            bigger = sq > largest[lane]  # as selects: the loop stays vectorised
            worst[lane] = i if bigger else worst[lane]
            largest[lane] = sq if bigger else largest[lane]
        if margin > _like(margin, 0.0):
            for lane in range(LANES):
                outside[lane] += not (abs(y[i] - B[_YP * ROW + lane]) < margin)
    nf = _like(y[0], X.shape[0])
    for lane in range(LANES):
        loss[lane] /= nf


@jit(**OPTS)
def _block_undecided(B, X, y, worst, etl, tanh, margin, tol_sum, x0s, x1s, ys, todo):
    """The lanes still searching (etl < 0) whose sample ``worst[lane]`` alone does
    not show the criterion unmet (|err| not below the margin, or without one
    err**2 >= tol_sum: ``tol_sum``): their number k, and the lanes in todo[:k].
    The others would be found unmet by their full loss too. x0s, x1s, ys
    (LANES,): workspaces for each lane's sample."""
    for lane in range(LANES):
        w = worst[lane]
        x0s[lane], x1s[lane], ys[lane] = X[w, 0], X[w, 1], y[w]
    _block_activations(B, x0s, x1s, tanh)
    k = 0
    for lane in range(LANES):
        err = ys[lane] - B[_YP * ROW + lane]
        if margin > _like(margin, 0.0):
            unmet = not (abs(err) < margin)
        else:
            unmet = err * err >= tol_sum
        if etl[lane] < 0 and not unmet:
            todo[k] = lane
            k += 1
    return k


@jit(**OPTS)
def _lane_loss(B, lane, X, y, tanh, margin):
    """(loss, outside, worst) of one lane of B, as ``_block_loss`` computes them: the same operations."""
    acc = _like(y[0], 0.0)
    outside = 0
    worst, largest = 0, _like(y[0], 0.0)
    for i in range(X.shape[0]):
        err = y[i] - _activations(B, lane, ROW, X[i, 0], X[i, 1], tanh)[2]
        sq = err * err
        acc += sq
        if sq > largest:
            worst, largest = i, sq
        if margin > _like(margin, 0.0):
            outside += not (abs(err) < margin)
    return acc / _like(y[0], X.shape[0]), outside, worst


#: A block whose worst-sample check leaves at most this many lanes undecided
#: evaluates their losses one lane at a time rather than the whole block's
#: (one lane is a serial chain, the block a vectorised pass over 128 lanes: of
#: 0, 2, 4, 8 and 16, 8 and 16 were fastest on XOR; BENCHMARKS.md).
FEW_LANES = 8


def tol_sum(tol: np.floating[typing.Any], n: int) -> np.floating[typing.Any]:
    """The least sum of squared errors T of tol's dtype with ``T / n >= tol`` in that dtype.

    One sample's squared error t >= T shows a network's loss not below tol
    without its other samples: the loss is ``acc / n``, acc a sum of
    non-negative terms which no rounding takes below any one of them, and
    division rounds monotonically, so ``acc / n >= T / n >= tol``. The
    training kernels check the sample that was worst last time against it
    before they evaluate the full loss, while a network searches for its
    epochs to tol.
    """
    F = type(tol)
    nf = F(n)
    with np.errstate(over="ignore"):  # tol * n beyond F's range: T = inf, met by no finite error
        T = tol * nf
    while T / nf < tol:
        T = np.nextafter(T, F(np.inf))
    while T > 0 and np.nextafter(T, F(0)) / nf >= tol:
        T = np.nextafter(T, F(0))
    return T


def _make_training_kernels(tanh, momentum):
    """The two training kernels for one activation (tanh or sigmoid) and momentum on or off.

    ``tanh`` and ``momentum`` are closure constants: Numba prunes the branches
    on them before typing (so a variant compiles only its own code) and keys
    each variant's cache entry on their values.
    """

    @jit(**OPTS)
    def train(params, velocity, X, y, epochs, lr, lr_out, m, loss_out):
        """Per-sample SGD of one network for ``epochs`` passes over X (n, 2), y (n,), in place.

        params (9,) and velocity (9,) (momentum only: the negated velocities,
        zeros at the start of a run) are updated; lr, lr_out (output neuron)
        and m are of X's dtype. If ``loss_out`` has length ``epochs`` it
        receives the full-dataset MSE after each epoch; pass a length-0 array
        to skip that work.
        """
        record = loss_out.shape[0] > 0
        # The history is the loss of each epoch's parameters. Computed as the
        # epochs go, it would put 3n activations on the run's chain of dependent
        # steps; instead the parameters after each epoch go into the lanes of a
        # sweep block, whose losses are computed LANES epochs at a time,
        # vectorised and off that chain (the same arithmetic as _mse).
        B = np.zeros(_ROWS * ROW if record else 0, dtype=params.dtype)
        loss = np.empty(LANES, dtype=params.dtype)
        outside = np.zeros(LANES, dtype=np.int64)
        worst = np.zeros(LANES, dtype=np.int64)
        largest = np.empty(LANES, dtype=params.dtype)
        for e in range(epochs):
            for i in range(X.shape[0]):
                x0, x1, yi = X[i, 0], X[i, 1], y[i]
                h1, h2, ypred = _activations(params, 0, 1, x0, x1, tanh)
                if momentum:
                    _momentum_step(params, velocity, 0, 1, 0, x0, x1, yi, lr, lr_out, m, h1, h2, ypred, tanh)
                else:
                    _apply_step(params, 0, 1, x0, x1, yi, lr, lr_out, h1, h2, ypred, tanh)
            if record:
                lane = e % LANES
                for k in range(N_PARAMS):
                    B[k * ROW + lane] = params[k]
                if lane == LANES - 1 or e + 1 == epochs:
                    _block_loss(B, X, y, loss, outside, worst, largest, tanh, _like(y[0], 0.0))
                    for j in range(lane + 1):
                        loss_out[e - lane + j] = loss[j]

    @jit(**OPTS)
    def train_blocks(
        X,
        y,
        params0,
        lr,
        lr_out,
        m,
        epochs,
        tol,
        tol_sum,
        margin,
        track,
        record_at,
        params_out,
        loss_out,
        etl_out,
        loss_at_out,
        within_at_out,
        cancel,
    ):
        """Train one network per row of params0; write final params, final loss, epochs to tol.

        Serial and GIL-free: ``fastbackprop.sweep`` runs chunks on a pool of
        Python threads (no Numba threading layer, half the compile time of
        ``parallel=True``). X (n, 2), y (n,), tol, margin: one float dtype F.
        params0 (S, 9) float64: the starting points; lr, lr_out, m (S,) F:
        each network's learning rates (hidden, output neuron) and momentum.
        tol_sum: ``tol_sum(tol, n)``. track: whether to find each network's
        epochs to tol (else etl_out is -1 throughout). record_at (R,) int64, increasing epoch counts in
        [1, epochs].
        Outputs: params_out (S, 9) F, loss_out (S,) F, etl_out (S,) int64
        (the first epoch count k >= 1 after which the network meets the
        criterion -- full-dataset loss below tol, or with margin > 0 every
        sample's |y - ypred| below margin -- or -1), loss_at_out (S, R) F (the
        loss after record_at[r] epochs), within_at_out (S, R) bool with a margin
        > 0, else (S, 0) (whether every sample's |y - ypred| was below it
        after record_at[r] epochs). cancel (1,) uint8: checked before
        every epoch; once another thread sets it, the kernel stops and
        returns False (the outputs are then partial). Returns True when every
        network is trained.

        With ``track``, the criterion is evaluated after every epoch until
        every lane of a block has met it once (each lane's worst sample first:
        ``_block_undecided``); otherwise, and after that, the loss only at
        record_at and the last epoch. Each network's arithmetic is the same whatever its block,
        position or thread, and the same as ``train``'s.
        """
        S = params0.shape[0]
        nblocks = (S + LANES - 1) // LANES
        for blk in range(nblocks):
            start = blk * LANES
            B = np.zeros(_ROWS * ROW, dtype=X.dtype)  # velocities start at 0
            loss = np.empty(LANES, dtype=X.dtype)
            outside = np.zeros(LANES, dtype=np.int64)
            worst = np.zeros(LANES, dtype=np.int64)
            largest = np.empty(LANES, dtype=X.dtype)
            x0s, x1s, ys = np.empty(LANES, X.dtype), np.empty(LANES, X.dtype), np.empty(LANES, X.dtype)
            todo = np.empty(LANES, dtype=np.int64)
            etl = np.full(LANES, -1, dtype=np.int64)
            for lane in range(LANES):
                # Lanes past the end repeat the block's first network; they are dropped.
                src = start + lane if start + lane < S else start
                for k in range(N_PARAMS):
                    B[k * ROW + lane] = params0[src, k]
                B[_LR * ROW + lane], B[_LRO * ROW + lane], B[_M * ROW + lane] = lr[src], lr_out[src], m[src]
            pending = LANES if track else 0
            r = 0
            for e in range(epochs):
                if _flag_set(cancel):
                    return False
                for i in range(X.shape[0]):
                    x0, x1, yi = X[i, 0], X[i, 1], y[i]
                    _block_activations(B, x0, x1, tanh)
                    if momentum:
                        for lane in range(LANES):
                            _momentum_step(
                                B, B, lane, ROW, _U * ROW, x0, x1, yi,
                                B[_LR * ROW + lane], B[_LRO * ROW + lane], B[_M * ROW + lane],
                                B[_H1 * ROW + lane], B[_H2 * ROW + lane], B[_YP * ROW + lane], tanh,
                            )  # fmt: skip
                    else:
                        for lane in range(LANES):
                            _apply_step(
                                B, lane, ROW, x0, x1, yi, B[_LR * ROW + lane], B[_LRO * ROW + lane],
                                B[_H1 * ROW + lane], B[_H2 * ROW + lane], B[_YP * ROW + lane], tanh,
                            )  # fmt: skip
                recording = r < record_at.shape[0] and record_at[r] == e + 1
                # Once every lane has met the criterion, only recorded and final losses are needed.
                if pending > 0 or recording or e + 1 == epochs:
                    # Only the decision is needed here: each lane's worst sample may settle
                    # it, and the few lanes it does not settle are cheaper one by one.
                    if not (recording or e + 1 == epochs):
                        k = _block_undecided(B, X, y, worst, etl, tanh, margin, tol_sum, x0s, x1s, ys, todo)
                        if k <= FEW_LANES:
                            for j in range(k):
                                lane = todo[j]
                                lane_loss, lane_outside, worst[lane] = _lane_loss(B, lane, X, y, tanh, margin)
                                if lane_outside == 0 if margin > _like(margin, 0.0) else lane_loss < tol:
                                    etl[lane] = e + 1
                                    pending -= 1
                            continue
                    _block_loss(B, X, y, loss, outside, worst, largest, tanh, margin)
                    if track:
                        pending = 0
                        for lane in range(LANES):
                            if etl[lane] < 0:
                                met = outside[lane] == 0 if margin > _like(margin, 0.0) else loss[lane] < tol
                                if met:
                                    etl[lane] = e + 1
                                else:
                                    pending += 1
                    if recording:
                        for lane in range(min(LANES, S - start)):
                            loss_at_out[start + lane, r] = loss[lane]
                            if margin > _like(margin, 0.0):
                                within_at_out[start + lane, r] = outside[lane] == 0
                        r += 1
            if epochs == 0:
                _block_loss(B, X, y, loss, outside, worst, largest, tanh, margin)
            for lane in range(min(LANES, S - start)):
                for k in range(N_PARAMS):
                    params_out[start + lane, k] = B[k * ROW + lane]
                loss_out[start + lane] = loss[lane]
                etl_out[start + lane] = etl[lane]
        return True

    return train, train_blocks


class TrainingKernels(typing.NamedTuple):
    """The compiled ``train`` (one network) and ``train_blocks`` (a sweep) of one variant."""

    train: typing.Any
    train_blocks: typing.Any


_VARIANTS = {(t, m): TrainingKernels(*_make_training_kernels(t, m)) for t in (False, True) for m in (False, True)}


def training_kernels(tanh, momentum):
    """The kernels for tanh (else sigmoid) units, with momentum or without."""
    return _VARIANTS[bool(tanh), bool(momentum)]


# The default variant (sigmoid, plain SGD), as tests and benchmarks call it.
train, train_blocks = _VARIANTS[False, False]
