"""The same training written in JAX and in PyTorch: the rivals the GPU sweep is measured against.

Per-sample SGD on squared error, samples in order, the loss after every
epoch for epochs-to-tol (as the package does), starting from the package's
seed map. JAX comes in two forms: ``jit(vmap(scan))`` of one network's
training (the idiomatic form, ``jax_train``) and hand-batched, structure of
arrays (``jax_train_batched``: nine (B,) arrays in the scan carry, the four
samples unrolled in the epoch body), which XLA fuses into one vectorised pass
over the batch per epoch: 2.6x (float64) and 6x (float32) faster than the
vmapped form on a 2-core Zen 3, so it is the anchor. PyTorch as batched
tensors (one row per network) under ``no_grad`` with the hand gradient,
since autograd per sample would only add work. Neither is imported by the
package.
"""

import numpy as np


def _forward(p, x0, x1, sigmoid):
    """(h1, h2, ypred) of network p, indexable by parameter (a (9,) array or nine (B,) arrays).

    Framework-neutral, as is ``_steps``: ``sigmoid`` is JAX's or PyTorch's, the
    rest is arithmetic operators.
    """
    h1 = sigmoid(p[0] * x0 + p[1] * x1 + p[6])
    h2 = sigmoid(p[2] * x0 + p[3] * x1 + p[7])
    return h1, h2, sigmoid(p[4] * h1 + p[5] * h2 + p[8])


def _steps(p, x0, x1, t, lr, sigmoid):
    """The nine SGD steps ``lr * dL/dp`` of one sample, in layout order, as a tuple: the package's maths."""
    h1, h2, yp = _forward(p, x0, x1, sigmoid)
    d1, d2, do = h1 * (1 - h1), h2 * (1 - h2), yp * (1 - yp)
    s_o = lr * -2 * (t - yp)
    s_h1, s_h2 = s_o * p[4] * do, s_o * p[5] * do
    return (
        s_h1 * x0 * d1,
        s_h1 * x1 * d1,
        s_h2 * x0 * d2,
        s_h2 * x1 * d2,
        s_o * h1 * do,
        s_o * h2 * do,
        s_h1 * d1,
        s_h2 * d2,
        s_o * do,
    )


def jax_train(X, y, epochs, lr, tol, dtype):
    """JAX's ``train(p)`` of one network p (9,): returns (params, final loss, epochs to tol); not jitted."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", np.dtype(dtype) == np.float64)
    F = jnp.dtype(dtype)
    Xj, yj = jnp.asarray(X, F), jnp.asarray(y, F)
    lr, tol = F.type(lr), F.type(tol)

    def step(p, sample):
        return p - jnp.stack(_steps(p, *sample, lr, jax.nn.sigmoid)), None

    def epoch(carry, e):
        p, etl = carry
        p, _ = jax.lax.scan(step, p, (Xj[:, 0], Xj[:, 1], yj))
        loss = jnp.mean((yj - _forward(p, Xj[:, 0], Xj[:, 1], jax.nn.sigmoid)[2]) ** 2)
        etl = jnp.where((etl < 0) & (loss < tol), e + 1, etl)
        return (p, etl), loss

    def train(p):
        (p, etl), losses = jax.lax.scan(epoch, (p, jnp.int32(-1)), jnp.arange(epochs, dtype=jnp.int32))
        return p, losses[-1], etl

    return train


def jax_train_batched(X, y, epochs, lr, tol, dtype):
    """JAX's ``train(P)`` of a batch of networks P (9, B), one (B,) array per parameter:
    returns (P (9, B), final loss (B,), epochs to tol (B,)); not jitted. The same maths as
    ``jax_train``, written over arrays of networks instead of vmapped."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", np.dtype(dtype) == np.float64)
    F = jnp.dtype(dtype)
    lr, tol = F.type(lr), F.type(tol)
    samples = [(F.type(a), F.type(b), F.type(t)) for (a, b), t in zip(np.asarray(X), np.asarray(y))]

    def loss_of(p):
        return sum((t - _forward(p, x0, x1, jax.nn.sigmoid)[2]) ** 2 for x0, x1, t in samples) / F.type(len(samples))

    def epoch(carry, e):
        p, etl = carry
        for x0, x1, t in samples:  # unrolled: XLA fuses the whole epoch into one pass
            p = tuple(a - b for a, b in zip(p, _steps(p, x0, x1, t, lr, jax.nn.sigmoid)))
        etl = jnp.where((etl < 0) & (loss_of(p) < tol), e + 1, etl)
        return (p, etl), None

    def train(P):
        start = (tuple(P[k] for k in range(9)), jnp.full(P.shape[1], -1, jnp.int32))
        (p, etl), _ = jax.lax.scan(epoch, start, jnp.arange(epochs, dtype=jnp.int32))
        return jnp.stack(p), loss_of(p), etl

    return train


def jax_sweep(X, y, params0, epochs, lr, tol, dtype, form="batched"):
    """Train each row of params0 (S, 9) with JAX (``form`` "batched" or "vmap"); returns a function
    that runs it and returns (params (S, 9), final_loss (S,), epochs_to_tol (S,)) as NumPy arrays."""
    import jax
    import jax.numpy as jnp

    if form == "batched":
        run = jax.jit(jax_train_batched(X, y, epochs, lr, tol, dtype))
        p0 = jax.device_put(jnp.asarray(np.ascontiguousarray(np.asarray(params0).T), jnp.dtype(dtype)))
    else:
        run = jax.jit(jax.vmap(jax_train(X, y, epochs, lr, tol, dtype)))
        p0 = jax.device_put(jnp.asarray(params0, jnp.dtype(dtype)))

    def go():
        p, loss, etl = run(p0)
        p.block_until_ready()
        p = np.asarray(p)
        return (p.T if form == "batched" else p), np.asarray(loss), np.asarray(etl).astype(np.int64)

    return go


def torch_sweep(X, y, params0, epochs, lr, tol, dtype, device="cuda"):
    """Train each row of params0 (S, 9) with PyTorch batched tensors; returns a runner as ``jax_sweep``."""
    import torch

    F = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]
    samples = [(float(a), float(b), float(t)) for (a, b), t in zip(X, y)]
    Xt = torch.tensor(np.asarray(X), dtype=F, device=device)
    yt = torch.tensor(np.asarray(y), dtype=F, device=device)

    @torch.no_grad()
    def go():
        p = torch.tensor(np.asarray(params0), dtype=F, device=device).T.contiguous()  # (9, S)
        etl = torch.full((p.shape[1],), -1, dtype=torch.int64, device=device)
        for e in range(epochs):
            for x0, x1, t in samples:
                p -= torch.stack(_steps(p, x0, x1, t, lr, torch.sigmoid))
            yp = _forward(p[:, :, None], Xt[:, 0], Xt[:, 1], torch.sigmoid)[2]  # (S, samples)
            loss = ((yt - yp) ** 2).mean(dim=1)
            etl = torch.where((etl < 0) & (loss < tol), e + 1, etl)
        if device == "cuda":
            torch.cuda.synchronize()
        return p.T.cpu().numpy(), loss.cpu().numpy(), etl.cpu().numpy()

    return go
