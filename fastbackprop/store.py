"""Durable sweep stores: results written chunk by chunk, so a crash loses nothing finished.

A store is a directory::

    manifest.json        settings, package version, chunk size, hashes of data and seeds
    inputs.npz           X, y and the seeds (so a partial store can be read back)
    chunk-000000.npz     rows [0, chunk_size) of the results, with a SHA-256 of them
    chunk-000001.npz     ...

Each file appears atomically: it is written under a temporary name, flushed to
disk, then renamed. A chunk that does not load or whose checksum does not match
(a truncated write, a damaged disk) is treated as missing and recomputed. One
process writes a store at a time.
"""

import hashlib
import json
import os
import zipfile

import numpy as np

MANIFEST = "manifest.json"
INPUTS = "inputs.npz"
_FORMAT = "fastbackprop-sweep-store"
_FORMAT_VERSION = 1
_FIELDS = ("params", "final_loss", "epochs_to_tol", "loss_at")


def _sha256(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _write_atomic(path, write):
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, rename it into place."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_manifest(path):
    """The settings in ``path``'s manifest, or None if there is no readable one."""
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            manifest = json.load(f)
        return manifest["settings"] if manifest["format"] == _FORMAT else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


class _ChunkFiles:
    """The chunk files of a store: rows [i * chunk_size, (i + 1) * chunk_size) of n."""

    def __init__(self, path, chunk_size, n):
        self.path, self.chunk_size, self.n = os.fspath(path), int(chunk_size), int(n)

    def chunk_path(self, index):
        return os.path.join(self.path, f"chunk-{index:06d}.npz")

    def bounds(self, index):
        lo = index * self.chunk_size
        return lo, min(self.n, lo + self.chunk_size)

    @property
    def n_chunks(self):
        return -(-self.n // self.chunk_size)

    def write(self, index, params, final_loss, etl, loss_at):
        """Write chunk ``index`` atomically with its checksum."""
        lo, hi = self.bounds(index)
        arrays = dict(params=params, final_loss=final_loss, epochs_to_tol=etl, loss_at=loss_at)
        digest = _sha256(*(arrays[k] for k in _FIELDS))
        _write_atomic(
            self.chunk_path(index),
            lambda f: np.savez(f, lo=lo, hi=hi, sha256=digest, **arrays),
        )

    def read(self, index):
        """The four arrays of chunk ``index``, or None if it is missing, truncated or corrupt."""
        path = self.chunk_path(index)
        if not os.path.exists(path):
            return None
        lo, hi = self.bounds(index)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = [f[k] for k in _FIELDS]
                ok = (int(f["lo"]), int(f["hi"])) == (lo, hi) and str(f["sha256"]) == _sha256(*arrays)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        return arrays if ok and arrays[0].shape[0] == hi - lo else None


class SweepStore(_ChunkFiles):
    """An opened store directory whose settings match the sweep being run.

    Parameters
    ----------
    path : str or os.PathLike
        The directory; created if missing.
    settings : dict
        JSON-ready settings (epochs, lr, dtype, tol, record_at, chunk_size,
        package version, ...) that must match an existing manifest exactly.
    X, y, seeds : ndarray
        The data and seeds; compared with the store's by SHA-256.
    """

    def __init__(self, path, settings, X, y, seeds):
        super().__init__(path, settings["chunk_size"], seeds.shape[0])
        settings = dict(settings, n_seeds=self.n, data_sha256=_sha256(X, y), seeds_sha256=_sha256(seeds))
        manifest_path = os.path.join(self.path, MANIFEST)
        if os.path.exists(manifest_path):
            self._check(settings)
        else:
            if os.path.exists(self.path) and not os.path.isdir(self.path):
                raise ValueError(f"store {self.path!r} exists and is not a directory")
            os.makedirs(self.path, exist_ok=True)
            _write_atomic(os.path.join(self.path, INPUTS), lambda f: np.savez(f, X=X, y=y, seeds=seeds))
            manifest = {"format": _FORMAT, "format_version": _FORMAT_VERSION, "settings": settings}
            _write_atomic(manifest_path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))

    def _check(self, settings):
        old = _read_manifest(self.path)
        if not isinstance(old, dict):
            raise ValueError(f"store {self.path!r} has no readable fastbackprop manifest")
        for key in sorted(set(old) | set(settings)):
            if old.get(key) != settings.get(key):
                what = {"data_sha256": "training data (X, y)", "seeds_sha256": "seeds"}.get(key, key)
                if key.endswith("sha256"):
                    raise ValueError(f"store {self.path!r} was made for other {what}; use another store")
                raise ValueError(
                    f"store {self.path!r} was made with {key}={old.get(key)!r}, "
                    f"this run has {key}={settings.get(key)!r}; use another store"
                )


def read_store(path):
    """Everything in a store: manifest settings, inputs, and the rows of the valid chunks.

    Returns
    -------
    settings : dict
    X, y, seeds : ndarray
    rows : ndarray of int64
        Row indices (into ``seeds``) that have results, increasing.
    arrays : list of 4 ndarray
        params, final_loss, epochs_to_tol, loss_at for those rows.
    """
    path = os.fspath(path)
    settings = _read_manifest(path)
    try:
        with np.load(os.path.join(path, INPUTS), allow_pickle=False) as f:
            X, y, seeds = f["X"], f["y"], f["seeds"]
        store = _ChunkFiles(path, settings["chunk_size"], seeds.shape[0])
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        raise ValueError(f"path {path!r} is not a readable fastbackprop sweep store") from None
    rows, parts = [], []
    for index in range(store.n_chunks):
        arrays = store.read(index)
        if arrays is not None:
            lo, hi = store.bounds(index)
            rows.append(np.arange(lo, hi))
            parts.append(arrays)
    if parts:
        arrays = [np.concatenate([p[k] for p in parts]) for k in range(len(_FIELDS))]
        indices = np.concatenate(rows)
    else:
        dtype = np.dtype(settings["dtype"])
        arrays = [
            np.empty((0, 9), dtype),
            np.empty(0, dtype),
            np.empty(0, np.int64),
            np.empty((0, len(settings["record_at"])), dtype),
        ]
        indices = np.empty(0, np.int64)
    return settings, X, y, seeds, indices, arrays
