"""Durable sweep stores: results written chunk by chunk, so a crash or Ctrl-C loses nothing finished.

A store is a directory::

    manifest.json        settings, package version, chunk size, hashes of data and seeds
    inputs.npz           X, y, the seeds and the per-network settings that are arrays
    chunk-000000.npz     rows [0, chunk_size) of the results, bound to this store
    chunk-000001.npz     ...
    lock                 who is writing the store now

One writer at a time: a run holds an exclusive lock on ``lock`` (``flock``,
released by the operating system when the process ends, however it ends) and
a second writer -- another process, or another thread of the same one -- is
refused with a ``StoreLockedError`` naming the holder. Readers
(``load_sweep``) need no lock: every file appears atomically, written under a
name unique to its writer and thread, flushed to disk, then renamed (the
manifest is linked into place, so it is created exactly once).

Every chunk carries a SHA-256 of its arrays and the digest of its store's
manifest (settings, data and seeds), and its shape and dtype are those the
manifest implies. A chunk that does not match -- copied from another store,
truncated, damaged -- is treated as missing and recomputed, and its headers
are checked before anything is allocated. A directory with chunks but no
manifest is refused, never reused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import re
import reprlib
import socket
import stat
import threading
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt

from ._errors import StoreLockedError
from ._layout import N_PARAMS, PARAM_NAMES
from ._settings import ACTIVATIONS, DTYPES, INITS, PER_NETWORK
from ._validation import MAX_LENGTHS, MAX_SEEDS, check_memory, recorded_data_ok, recorded_settings_ok

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: an exclusively created lock file instead
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"
INPUTS = "inputs.npz"
LOCK = "lock"
_FORMAT = "fastbackprop-sweep-store"
#: Version of the store format (see CHANGELOG.md). 2: chunks bound to their
#: store, a lock file, the number of samples in the manifest. 3: the
#: per-network options (arrays in inputs.npz, their digests in the manifest).
#: 4: a store that records lengths with a margin (a grid's) keeps ``within_at``
#: in its chunks; every other store is still written as version 3, so stores
#: made before stay resumable and builds that read 3 still read them.
FORMAT_VERSION = 4
#: Versions this one reads: a version-2 store is one with every option at its default.
_READABLE = (2, 3, 4)
#: Settings that may be arrays, the shape of each row (one row per seed).
ARRAY_SETTINGS: dict[str, tuple[int, ...]] = {**{name: () for name in PER_NETWORK}, "params0": (N_PARAMS,)}
_FIELDS = ("params", "final_loss", "epochs_to_tol", "loss_at")
#: Kept by the chunks of a store that records lengths with a margin (a grid's).
_WITHIN_AT = "within_at"
#: How the settings are named to users when a store was made with others.
_PUBLIC_NAMES = {"record_at": "epochs_list"}
#: Settings a manifest holds only when they are not at these defaults.
OMITTED_AT_DEFAULT = {"epochs_to_tol": True}


def _keeps_within(settings: dict[str, Any]) -> bool:
    """Whether a store's chunks hold ``within_at``: it records lengths, with a margin (a grid's)."""
    return bool(settings["record_at"]) and settings.get("margin") is not None


def _version(settings: dict[str, Any]) -> int:
    """The format version a store with these settings is written as."""
    return FORMAT_VERSION if _keeps_within(settings) else 3


def sha256(*arrays: npt.NDArray[Any]) -> str:
    """SHA-256 of the arrays' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.reshape(-1).view(np.uint8).data)  # the bytes, without a copy
    return h.hexdigest()


def _temporary_name(path: str) -> str:
    """A name beside ``path`` that no other writer, process or thread, will use."""
    return f"{path}.tmp-{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}"


#: The names ``_temporary_name`` makes (a store removes them at open, under its lock).
_TEMPORARY = re.compile(r"\.tmp-\d+-\d+-[0-9a-f]{8}$")
#: The names of chunk files (``_Chunks.chunk_path``).
_CHUNK = re.compile(r"chunk-\d{6,}\.npz")


def not_a_file(path: str | bytes) -> str | None:
    """Why ``path`` cannot be replaced by a file written beside it (a FIFO, a device, a name ending in a
    separator, nothing), or None. A file written into place would replace such a path, not write to it."""
    path = os.fsdecode(path)
    if not path:
        return "is empty; give a file name"
    if path.endswith((os.sep, os.altsep or os.sep)):
        return "ends in a path separator; give a file name"
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        return "exists and is not a regular file (a FIFO or a device?); give a file name"
    return None


def cannot_write(path: str, in_place: bool = False) -> str | None:
    """Why ``write_atomic`` could not write ``path`` (a name too long for the filesystem, a
    read-only one), or None: tried by making and removing the temporary file it first writes,
    or with ``in_place``, for a file written where it is, that file if it does not exist yet."""
    if in_place and os.path.exists(path):
        return None
    probe = path if in_place else _temporary_name(path)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG and probe != path and _name_fits(path):
            longer = len(probe) - len(path)
            return f"cannot be written ({exc.strerror}: it is written first under a name {longer} characters longer)"
        return f"cannot be written ({exc.strerror})"
    try:
        os.close(fd)  # where a full disk or quota shows on a network filesystem
    except OSError as exc:
        return f"cannot be written ({exc.strerror})"
    finally:
        os.remove(probe)
    return None


def _name_fits(path: str) -> bool:
    """Whether the filesystem takes ``path``'s name (a lookup fails otherwise, before "not found")."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno != errno.ENAMETOOLONG
    return True


def write_atomic(
    path: str | bytes | os.PathLike[str],
    write: Callable[[IO[bytes]], Any],
    exclusive: bool = False,
    follow_links: bool = True,
) -> bool:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync it, move it into place.

    With ``exclusive``, the file is linked into place only if ``path`` does
    not exist; returns False (and writes nothing) if it does. A symbolic link
    at ``path`` is written through, as ``open`` would, unless ``follow_links``
    is False: then the link itself is replaced (a store's own files).
    """
    path = os.fsdecode(path)  # (bytes too, as open() takes them)
    replaced_link = not follow_links and os.path.islink(path)  # the link itself is replaced, whatever it names
    if os.path.isdir(path) and not replaced_link:  # said of path, not of the temporary file
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if not replaced_link and (problem := not_a_file(path)):
        raise ValueError(f"path {path!r} {problem}")
    if follow_links:
        path = os.path.realpath(path)  # through a symbolic link, as open() writes: the link stays
    else:  # a store's own file: a link in its place is replaced, never written through (into another store)
        path = os.path.join(os.path.realpath(os.path.dirname(path) or "."), os.path.basename(path))
    tmp = _temporary_name(path)
    try:
        try:
            f = open(tmp, "wb")
        except OSError as exc:  # no such folder, not writable: said of path
            raise type(exc)(exc.errno, exc.strerror, path) from None
        try:
            with f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            if not exclusive:
                os.replace(tmp, path)
                _sync_folder(path)
                return True
        except OSError as exc:  # disk full, quota, I/O error: said of path, not of the temporary file
            if exc.errno is None or exc.filename not in (None, tmp):
                raise
            raise type(exc)(exc.errno, exc.strerror, path) from None
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (FAT, some network filesystems): the store's lock serialises us
            if os.path.exists(path):
                return False
            os.replace(tmp, path)
        _sync_folder(path)
        return True
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _sync_folder(path: str) -> None:
    """fsync the folder of ``path``, so that its new name survives a power cut too (POSIX; else nothing)."""
    try:
        fd = os.open(os.path.dirname(path), os.O_RDONLY)
    except OSError:  # pragma: no cover - a folder that cannot be opened (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse to sync a folder: the rename stands
        pass
    finally:
        os.close(fd)


def _read_manifest(path: str) -> dict[str, Any] | None:
    """The manifest of store ``path``, or None if there is no readable one."""
    if not os.path.isfile(os.path.join(path, MANIFEST)):  # a FIFO would block open()
        return None
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            manifest = json.load(f)
        return manifest if manifest["format"] == _FORMAT and isinstance(manifest["settings"], dict) else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def _store_digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


#: What reading a damaged or hostile .npz can raise.
_UNREADABLE = (
    OSError,
    ValueError,
    KeyError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    zlib.error,
    zipfile.BadZipFile,
)


def _plain(info: zipfile.ZipInfo) -> bool:
    """A member stored as is: neither compressed nor encrypted (how NumPy's savez writes them)."""
    return info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _read_header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran order, dtype) from the .npy header at ``f``; ValueError for a version NumPy never writes."""
    version = np.lib.format.read_magic(f)
    if version not in _HEADER_READERS:
        raise ValueError(f"unknown .npy version {version}")
    return _HEADER_READERS[version](f)


def read_npz(path: str, spec: dict[str, tuple[tuple[int, ...], Any]]) -> dict[str, npt.NDArray[Any]] | None:
    """The arrays ``spec`` names from an .npz file, if each has exactly the given shape and dtype.

    None if the file is missing, unreadable, or any member differs. Each
    member's declared size and .npy header are checked before its data is
    read, so a hostile file cannot make this allocate more than ``spec`` says.
    """
    out = {}
    if not os.path.isfile(path):  # missing, a directory, or a FIFO (whose open() would block)
        return None
    try:
        with zipfile.ZipFile(path) as z:
            for name, (shape, dtype) in spec.items():
                dtype = np.dtype(dtype)
                info = z.getinfo(f"{name}.npy")
                nbytes = math.prod(shape) * dtype.itemsize
                # the .npy header is at most a few hundred bytes; this package writes members stored, in clear
                if info.file_size > nbytes + 4096 or not _plain(info):
                    return None
                with z.open(info) as f:
                    got_shape, fortran, got_dtype = _read_header(f)
                    if tuple(got_shape) != tuple(shape) or got_dtype != dtype or fortran:
                        return None
                    array = np.empty(shape, dtype=dtype)
                    read = cast(io.BufferedIOBase, f).readinto(array.reshape(-1).view(np.uint8).data)
                    if read != nbytes or f.read(1):
                        return None
                out[name] = array
    except _UNREADABLE:
        return None
    return out


#: The reader of each kind of result.
READERS = {"sweep": "load_sweep", "map": "load_map", "grid": "load_grid"}
#: The ``format`` entry of a map's or a grid's .npz file (a sweep's file, the first format, has none).
NPZ_FORMATS = {"map": "fastbackprop-map", "grid": "fastbackprop-grid"}


def npz_kind(f: Any) -> str | None:
    """What the open .npz file ``f`` (``np.load``'s) holds by its entries: "sweep", "map", "grid", or None."""
    if "format" in f:
        value = f["format"]
        kinds = {text: kind for kind, text in NPZ_FORMATS.items()}
        return kinds.get(str(value)) if value.shape == () and value.dtype.kind == "U" else None
    return "sweep" if all(k in f for k in ("format_version", "seeds", "params")) else None


def is_version(value: npt.NDArray[Any] | None, readable: tuple[int, ...]) -> bool:
    """Whether a file's ``format_version`` entry (None: it has none) is one of ``readable``: a 0-d integer."""
    return value is not None and value.shape == () and value.dtype.kind in "iu" and value.item() in readable


def store_kind(settings: dict[str, Any]) -> str:
    """What a store holds by its manifest's settings: "map", "grid" or "sweep"."""
    if settings.get("start_grid") is not None:
        return "map"
    return "grid" if settings.get("grid") is not None else "sweep"


def result_kind(path: str | os.PathLike[str]) -> str:
    """What the result file or store at ``path`` holds, "sweep", "grid" or "map", for its reader (``READERS``).

    FileNotFoundError if nothing is there; ValueError naming the path if it is neither.
    """
    path = existing_path(path, "result file or store")
    if os.path.isdir(path):
        manifest = _read_manifest(path)
        if manifest is None:
            raise ValueError(f"path {path!r} is not a readable fastbackprop store")
        return store_kind(manifest["settings"])
    check_npz_sizes(path, "result file")
    try:
        with np.load(path, allow_pickle=False) as f:
            kind = npz_kind(f)
    except _UNREADABLE:
        kind = None
    if kind is None:
        raise ValueError(f"path {path!r} is not a fastbackprop result file (a sweep's, a grid's or a map's)")
    return kind


def check_npz_format(f: Any, kind: str, version: int, path: str) -> None:
    """ValueError unless the open .npz file ``f`` at ``path`` is a ``kind`` ("map", "grid") file of format
    ``version``, naming the reader of another kind's."""
    check_kind(npz_kind(f), kind, f"path {path!r}")
    found = f["format_version"] if "format_version" in f else None
    if not (npz_kind(f) == kind and is_version(found, (version,))):
        raise ValueError(f"path {path!r} is not a fastbackprop {kind} file (version {version})")


def check_kind(found: str | None, wanted: str, where: str) -> None:
    """ValueError if ``where`` ("path 'x'") holds another kind of result than ``wanted``, naming its reader."""
    if found is not None and found != wanted:
        raise ValueError(f"{where} holds a {found}, not a {wanted}; read it with fastbackprop.{READERS[found]}")


def existing_path(path: Any, what: str) -> str:
    """``path`` as a str, if it names something that exists: else TypeError (not a path; an int
    would name a file descriptor to ``os.path``) or FileNotFoundError, saying ``what`` was looked for."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike ({what}), got {type(path).__name__}")
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike of str ({what}), got bytes")
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"no such {what}", path)
    return path


def check_npz_sizes(path: str | os.PathLike[str], what: str = "sweep file") -> None:
    """Raise ValueError unless every array in an .npz file holds as many bytes as its header declares.

    Files this package writes are stored, not compressed: a member that is
    compressed, or whose header declares more data than the member holds, is
    refused before ``np.load`` could allocate for it, as is one of objects or
    of a structured dtype, which this package never writes. A FIFO or a device, which
    opening would wait on or read without end, is refused unopened.
    """
    if not os.path.isfile(path):
        raise ValueError(f"path {os.fspath(path)!r} is not a readable fastbackprop {what}: not a regular file")
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not _plain(info):
                    raise ValueError
                with z.open(info) as f:
                    shape, _, dtype = _read_header(f)
                    if info.file_size != f.tell() + math.prod(shape) * dtype.itemsize:
                        raise ValueError
                    if dtype.hasobject or dtype.fields is not None or dtype.kind == "V":
                        raise ValueError  # never written by this package; np.load refuses or compares them oddly
    except _UNREADABLE:
        raise ValueError(f"path {os.fspath(path)!r} is not a readable fastbackprop {what}") from None


def canonical_nans(arrays: Iterable[npt.NDArray[Any]]) -> tuple[npt.NDArray[Any], ...]:
    """``arrays`` with every NaN the one quiet NaN of its dtype, ``np.nan``'s (the others as they are).

    Which NaN a run that overflowed ends with depends on the code that ran it
    (vectorised or not, on a CPU or a GPU), not on its seed: rows must not.
    """
    return tuple(_canonical_nans(a) for a in arrays)


def _canonical_nans(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if a.dtype.kind != "f":
        return a
    nan = np.isnan(a)
    return np.where(nan, a.dtype.type(np.nan), a) if nan.any() else a


def chunk_bounds(index: int, chunk_size: int, n: int) -> tuple[int, int]:
    """Rows [lo, hi) of chunk ``index`` when ``n`` rows are cut into chunks of ``chunk_size``."""
    lo = index * chunk_size
    return lo, min(n, lo + chunk_size)


def n_chunks(n: int, chunk_size: int) -> int:
    """Chunks of ``n`` rows cut into chunks of ``chunk_size`` (the last may be short)."""
    return -(-n // chunk_size)


class _Chunks:
    """The chunk files of a store: chunk i holds rows ``chunk_bounds(i, chunk_size, n)``."""

    def __init__(self, path: str, settings: dict[str, Any]) -> None:
        self.path = path
        self.settings = settings
        self.chunk_size = int(settings["chunk_size"])
        self.n = int(settings["n_seeds"])
        self.dtype = np.dtype(settings["dtype"])
        self.n_record = len(settings["record_at"])
        self.n_within = self.n_record if _keeps_within(settings) else 0
        # within_at only where it has columns: the chunks of every other store are as they were
        self.fields = _FIELDS + ((_WITHIN_AT,) if self.n_within else ())
        self.digest = _store_digest(settings)

    def chunk_path(self, index: int) -> str:
        return os.path.join(self.path, f"chunk-{index:06d}.npz")

    def bounds(self, index: int) -> tuple[int, int]:
        return chunk_bounds(index, self.chunk_size, self.n)

    @property
    def n_chunks(self) -> int:
        return n_chunks(self.n, self.chunk_size)

    def _spec(self, rows: int) -> dict[str, tuple[tuple[int, ...], Any]]:
        return {
            "params": ((rows, N_PARAMS), self.dtype),
            "final_loss": ((rows,), self.dtype),
            "epochs_to_tol": ((rows,), np.int64),
            "loss_at": ((rows, self.n_record), self.dtype),
            **({_WITHIN_AT: ((rows, self.n_within), np.bool_)} if self.n_within else {}),
            "lo": ((), np.int64),
            "hi": ((), np.int64),
            "sha256": ((), "<U64"),
            "store_sha256": ((), "<U64"),
        }

    def write(self, index: int, arrays: tuple[npt.NDArray[Any], ...]) -> None:
        """Write chunk ``index`` (params, final_loss, epochs_to_tol, loss_at, within_at) atomically."""
        lo, hi = self.bounds(index)
        # arrays: params, final_loss, epochs_to_tol, loss_at, within_at (kept only by some stores)
        named: dict[str, Any] = dict(zip(self.fields, arrays[: len(self.fields)], strict=True))
        digest = np.str_(sha256(*named.values()))
        write_atomic(
            self.chunk_path(index),
            lambda f: np.savez(
                f, lo=np.int64(lo), hi=np.int64(hi), sha256=digest, store_sha256=np.str_(self.digest), **named
            ),
            follow_links=False,
        )

    def read(self, index: int) -> tuple[npt.NDArray[Any], ...] | None:
        """The five arrays of chunk ``index`` (within_at with no columns where the store
        keeps none), or None unless it is whole and belongs to this store."""
        lo, hi = self.bounds(index)
        got = read_npz(self.chunk_path(index), self._spec(hi - lo))
        if got is None:
            return None
        arrays = tuple(got[k] for k in self.fields)
        etl = got["epochs_to_tol"]
        ok = (
            (int(got["lo"]), int(got["hi"])) == (lo, hi)
            and str(got["store_sha256"]) == self.digest
            and str(got["sha256"]) == sha256(*arrays)
            and bool(np.all((etl == -1) | ((etl >= 1) & (etl <= self.settings["epochs"]))))  # -1: never, or untracked
        )
        if not ok:
            return None
        arrays = canonical_nans(arrays)  # a store written before NaNs were made one
        return arrays if self.n_within else (*arrays, np.empty((hi - lo, 0), np.bool_))


class SweepStore(_Chunks):
    """A store opened for writing by one sweep, holding its lock: use it as a context manager.

    Parameters
    ----------
    path : str or os.PathLike
        The directory; created if missing.
    settings : dict
        JSON-ready settings (epochs, lr, dtype, tol, record_at, chunk_size,
        package version, ...) that must match an existing manifest exactly,
        but for chunk_size: a store that exists keeps its own (read
        ``chunk_size`` once the store is entered).
    X, y, seeds : ndarray
        The data and seeds; compared with the store's by SHA-256.
    arrays : dict of str to ndarray of float64, optional
        The per-network settings given as arrays (``PER_ROW``: lr (S,), ...,
        params0 (S, 9)), kept in the store's inputs and compared the same way.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        settings: dict[str, Any],
        X: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        seeds: npt.NDArray[np.int64],
        arrays: dict[str, npt.NDArray[np.float64]] | None = None,
    ) -> None:
        path = os.fspath(path)
        settings = dict(
            settings,
            n_seeds=int(seeds.shape[0]),
            n_samples=int(X.shape[0]),
            data_sha256=sha256(X, y),
            seeds_sha256=sha256(seeds),
        )
        super().__init__(path, settings)
        self._inputs: dict[str, Any] = dict(arrays or {}, X=X, y=y, seeds=seeds)
        self._lock: _Lock | None = None

    def __enter__(self) -> SweepStore:
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"store {self.path!r} exists and is not a directory")
        os.makedirs(self.path, exist_ok=True)
        # The folder locked is the one written to: a relative name or a link, taken again for
        # each chunk, would follow a chdir or a link repointed mid-sweep into another store.
        self.path = os.path.realpath(self.path)
        self._lock = _Lock(os.path.join(self.path, LOCK))
        try:
            self._open()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()

    def write(self, index: int, arrays: tuple[npt.NDArray[Any], ...]) -> None:
        """Write chunk ``index`` atomically, if this store's lock is still the one on its folder."""
        assert self._lock is not None, "a SweepStore writes only once entered"
        self._lock.check()
        super().write(index, arrays)

    def _open(self) -> None:
        """Create the manifest and inputs, or check that an existing store is this sweep's."""
        for name in sorted(os.listdir(self.path)):
            full = os.path.join(self.path, name)
            if _TEMPORARY.search(name):  # left half-written by a killed writer: the lock makes this the only one
                with contextlib.suppress(FileNotFoundError):
                    os.remove(full)
            elif (name == INPUTS or _CHUNK.fullmatch(name)) and not (os.path.islink(full) or os.path.isfile(full)):
                # a directory or a FIFO: it would fail only once its chunk is trained, or block
                raise ValueError(
                    f"store {self.path!r} has {name}, which is not a regular file; remove it and run again"
                )
        arrays = self._inputs
        inputs = os.path.join(self.path, INPUTS)
        manifest = {"format": _FORMAT, "format_version": _version(self.settings), "settings": self.settings}
        if not os.path.exists(os.path.join(self.path, MANIFEST)):
            leftovers = sorted(n for n in os.listdir(self.path) if _CHUNK.fullmatch(n))
            if leftovers:
                raise ValueError(
                    f"store {self.path!r} holds results ({leftovers[0]}, ...) but no manifest, so nothing says "
                    "what they are; use another store, or delete this one"
                )
            write_atomic(inputs, lambda f: np.savez(f, **arrays), follow_links=False)
            text = json.dumps(manifest, indent=1).encode()
            manifest_path = os.path.join(self.path, MANIFEST)
            if write_atomic(manifest_path, lambda f: f.write(text), exclusive=True, follow_links=False):
                return
        old = _read_manifest(self.path)
        self._adopt(old)
        self._check(old)
        if read_inputs(self.path, self.settings) is None:  # deleted or damaged: the manifest vouches for ours
            write_atomic(inputs, lambda f: np.savez(f, **arrays), follow_links=False)

    def _adopt(self, old: dict[str, Any] | None) -> None:
        """Take an existing store's chunk size, whatever this sweep proposed (another
        device's or thread count's): chunks are where the results are, not a setting.
        Likewise its tol where both have a margin, which decides convergence instead."""
        theirs = {} if old is None else old["settings"]
        adopted = {}
        if _count(theirs.get("chunk_size"), MAX_SEEDS):
            adopted["chunk_size"] = theirs["chunk_size"]
        tol = theirs.get("tol")
        if None not in (theirs.get("margin"), self.settings.get("margin")) and type(tol) in (int, float):
            adopted["tol"] = tol
        if adopted:
            super().__init__(self.path, dict(self.settings, **adopted))

    def _check(self, old: dict[str, Any] | None) -> None:
        if old is None:
            raise ValueError(f"store {self.path!r} has no readable fastbackprop manifest")
        version = old.get("format_version")
        if version != _version(self.settings):
            if version in (3, FORMAT_VERSION):  # both written now, by settings: the differing setting says more
                self._compare(old["settings"])
            raise ValueError(
                f"store {self.path!r} has format version {version!r}, this fastbackprop "
                f"writes version {_version(self.settings)}; use another store"
            )
        self._compare(old["settings"])

    def _compare(self, settings: dict[str, Any]) -> None:
        """ValueError naming the first setting in which ``settings`` differ from this sweep's."""
        # A grid's cells or a map's pixels, then other seeds, first: per-network settings for other
        # cells, pixels or seeds differ too.
        first = ("grid", "start_grid", "n_seeds", "seeds_sha256")
        for key in sorted(set(settings) | set(self.settings), key=lambda k: (first.index(k) if k in first else 9, k)):
            default = OMITTED_AT_DEFAULT.get(key)
            # as JSON text, as the chunks' digest sees them: -0.0 and 0.0 are different starts
            if _text(settings.get(key, default)) != _text(self.settings.get(key, default)):
                if key == "grid":
                    theirs, ours = _grid_text(settings.get(key)), _grid_text(self.settings.get(key))
                    if theirs == ours:  # they differ where the text elides
                        raise ValueError(f"store {self.path!r} holds a grid of other lrs or momenta; use another store")
                    raise ValueError(f"store {self.path!r} holds {theirs}, this run is {ours}; use another store")
                if key == "start_grid":
                    theirs, ours = _map_text(settings.get(key)), _map_text(self.settings.get(key))
                    if theirs != ours:
                        raise ValueError(f"store {self.path!r} holds {theirs}, this run is {ours}; use another store")
                if key == "n_seeds" and all(_count(x.get(key), MAX_SEEDS) for x in (settings, self.settings)):
                    given = self.settings.get("params0") is not None  # explicit starts, a row each
                    unit = "starting points" if given else "seeds"
                    raise ValueError(
                        f"store {self.path!r} was made for {settings[key]:,} {unit}, this run has "
                        f"{self.settings[key]:,}; use another store"
                        + ("" if given else ", or the seeds it was made for")
                    )
                what = {
                    "data_sha256": "training data (X, y)",
                    "seeds_sha256": "seeds",
                    "start_grid": "starting points (another map's base, axes or extent)",
                }.get(key)
                if what is not None:
                    again = ", or the seeds it was made for" if key == "seeds_sha256" else ""
                    raise ValueError(f"store {self.path!r} was made for other {what}; use another store{again}")
                name = _PUBLIC_NAMES.get(key, key)
                if isinstance(settings.get(key), dict) or isinstance(self.settings.get(key), dict):
                    raise ValueError(
                        f"store {self.path!r} was made with other values of {name} (one per network); use another store"
                    )
                theirs, ours = (_SHORT.repr(s.get(key, default)) for s in (settings, self.settings))
                if theirs == ours:  # they differ where the text elides
                    raise ValueError(f"store {self.path!r} was made with other values of {name}; use another store")
                raise ValueError(
                    f"store {self.path!r} was made with {name}={theirs}, this run has {name}={ours}; use another store"
                )


#: Settings as a refusal shows them: a list of a million recorded lengths as its first few.
_SHORT = reprlib.Repr()
_SHORT.maxlist, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 8, 200, 200, 400


def _count(value: Any, top: int) -> bool:
    """Whether a manifest's ``value`` is a count in [1, top] (JSON's int, not its bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= top


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _grid_text(grid: Any) -> str:
    """A grid's cells as a store's messages name them: "a grid of lrs [0.5, 1.0] x momenta [0.0, 0.9] x 300 seeds"."""

    def values(v: list[Any]) -> str:
        return str(v) if len(v) <= 6 else f"[{v[0]}, {v[1]}, ..., {v[-1]}] ({len(v)} values)"

    if grid is None:
        return "a sweep, not a grid"
    try:
        lrs, momenta, seeds = grid["lrs"], grid["momenta"], grid["seeds"]
    except (TypeError, KeyError):
        return "a grid"
    if not (isinstance(lrs, list) and lrs and (momenta is None or (isinstance(momenta, list) and momenta))):
        return "a grid"
    if not isinstance(seeds, int) or isinstance(seeds, bool):  # a hand-edited manifest's
        return "a grid"
    return f"a grid of lrs {values(lrs)}{'' if momenta is None else f' x momenta {values(momenta)}'} x {seeds:,} seeds"


def _map_text(start_grid: Any) -> str:
    """A map's pixels as a store's messages name them: "an init map of w1 x w5, [-4.0, 4.0] x [-2.0, 2.0],
    12 x 10 pixels"; what a hand-edited manifest leaves unreadable, less precisely."""
    if start_grid is None:
        return "a sweep, not a map"
    try:
        kind, axes, c0, c1 = start_grid["kind"], start_grid["axes"], start_grid["coords0"], start_grid["coords1"]
        extent = f"[{c0[0]!r}, {c0[-1]!r}] x [{c1[0]!r}, {c1[-1]!r}]"
        names = " x ".join(PARAM_NAMES[a] for a in axes) if axes else "lr x lr_output"
        return f"an {kind} map of {names}, {extent}, {len(c0)} x {len(c1)} pixels"
    except (TypeError, KeyError, IndexError):
        return "a map"


class _Lock:
    """An exclusive, non-blocking lock on a file, holding its owner's name in it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[str]
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "thread": threading.get_ident(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        try:
            kind = os.lstat(path).st_mode
        except FileNotFoundError:
            kind = stat.S_IFREG
        if not stat.S_ISREG(kind):  # never written through a link, never waited on (a FIFO)
            raise ValueError(
                f"store {os.path.dirname(path)!r} has {os.path.basename(path)}, which is not a regular file "
                "(a link, a FIFO or a directory); remove it and run again"
            )
        if fcntl is None:  # pragma: no cover - not POSIX
            try:
                self._file = open(path, "x+")
            except FileExistsError:
                raise StoreLockedError(self._refusal()) from None
        else:
            # O_NOFOLLOW: a link put there since the look above is refused, not followed
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            self._file = os.fdopen(fd, "r+")
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                self._file.close()
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StoreLockedError(self._refusal()) from None
                raise OSError(
                    exc.errno,
                    f"cannot lock store {os.path.dirname(path)!r} ({exc.strerror}): use a filesystem with locks",
                ) from None
        try:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(json.dumps(holder))
            self._file.flush()
        except BaseException:  # a full disk: never keep the lock of a store that was not opened
            with contextlib.suppress(OSError):
                self._file.close()  # closing the last descriptor releases the flock
                if fcntl is None:  # pragma: no cover - not POSIX: the file itself is the lock
                    os.remove(path)
            raise

    def _refusal(self) -> str:
        try:
            with open(self.path) as f:
                holder = json.load(f)
            who = f"process {holder['pid']} on {holder['host']} (since {holder['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            who = "another writer"
        return (
            f"store {os.path.dirname(self.path)!r} is being written by {who}; "
            "one writer at a time: wait for it, or use another store"
        )

    def check(self) -> None:
        """StoreLockedError unless ``path`` is still the file this lock holds: a lock file removed
        (or replaced) by hand no longer keeps a second writer out, and this one must stop."""
        try:
            at_path, held = os.lstat(self.path), os.fstat(self._file.fileno())
            ours = (at_path.st_dev, at_path.st_ino) == (held.st_dev, held.st_ino)
        except OSError:  # gone, or its folder replaced by a file
            ours = False
        if not ours:
            raise StoreLockedError(
                f"store {os.path.dirname(self.path)!r}: its lock file was removed or replaced while this sweep "
                "held it, so another writer may be in the store; stopped (run again to resume from the chunks "
                "written)"
            )

    def release(self) -> None:
        if self._file.closed:
            return
        if fcntl is None:  # pragma: no cover - not POSIX
            self._file.close()
            os.remove(self.path)
            return
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()


def read_inputs(path: str, settings: dict[str, Any]) -> dict[str, npt.NDArray[Any]] | None:
    """X, y, seeds and per-network arrays of a store, or None unless they have the manifest's shapes and digests."""
    n, s = int(settings["n_samples"]), int(settings["n_seeds"])
    spec = {"X": ((n, 2), np.float64), "y": ((n,), np.float64), "seeds": ((s,), np.int64)}
    arrays = {k: v["sha256"] for k, v in settings.items() if k in ARRAY_SETTINGS and isinstance(v, dict)}
    spec.update({k: ((s, *ARRAY_SETTINGS[k]), np.float64) for k in arrays})
    got = read_npz(os.path.join(path, INPUTS), spec)
    if got is None or sha256(got["X"], got["y"]) != settings["data_sha256"]:
        return None
    if any(sha256(got[k]) != digest for k, digest in arrays.items()):
        return None
    return got if sha256(got["seeds"]) == settings["seeds_sha256"] else None


def _stored_inputs(path: str, what: str = "sweep store") -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """A store's settings and inputs, for reading: ValueError unless both are whole and of this format
    (naming ``what`` was looked for)."""
    manifest = _read_manifest(path)
    if manifest is None:
        raise ValueError(f"path {path!r} is not a readable fastbackprop {what}")
    if manifest.get("format_version") not in _READABLE:
        raise ValueError(
            f"store {path!r} has format version {manifest.get('format_version')!r}; "
            f"this fastbackprop reads versions {', '.join(map(str, _READABLE))}"
        )
    settings = manifest["settings"]
    inputs = read_inputs(path, settings) if _sound(settings) else None
    if inputs is None or not _inputs_sound(inputs, settings):
        raise ValueError(f"store {path!r} has a damaged manifest or inputs.npz")
    return settings, inputs


def _inputs_sound(inputs: dict[str, npt.NDArray[Any]], settings: dict[str, Any]) -> bool:
    """Whether a store's inputs are what a sweep takes (its digests say only that they are the ones
    written): the data for its activation, seeds >= 0, per-network settings as a sweep checks them."""
    per_network = {k: v for k, v in inputs.items() if k in PER_NETWORK}
    return (
        recorded_data_ok(inputs["X"], inputs["y"], settings.get("activation", "sigmoid"))
        and bool(np.all(inputs["seeds"] >= 0))
        and (inputs["seeds"].shape[0] == 0 or recorded_settings_ok(per_network))
        and ("params0" not in inputs or bool(np.isfinite(inputs["params0"]).all()))
    )


def manifest_settings(path: str) -> dict[str, Any]:
    """A store's settings, as its manifest holds them ({} if it has no readable one); reads nothing else."""
    manifest = _read_manifest(path)
    return {} if manifest is None else manifest["settings"]


def planned_seeds(path: str | os.PathLike[str]) -> npt.NDArray[np.int64]:
    """All the seeds a store was made for, finished or not (ValueError if it is damaged)."""
    return _stored_inputs(os.fspath(path))[1]["seeds"]


#: Most samples a store's data may hold (a 64 MiB CSV file holds fewer).
MAX_SAMPLES = 10**8


def _sound(settings: Any) -> bool:
    """Whether a manifest's settings have every key a reader needs, of sane types, sizes and values
    (what the public functions would accept: a hand-edited manifest is damaged, not believed)."""

    def count(key: str, top: int) -> bool:
        return _count(settings.get(key), top)

    def digest(value: Any) -> bool:  # a per-network array's, kept in the inputs
        return isinstance(value, dict) and set(value) == {"sha256"} and isinstance(value["sha256"], str)

    def scalars_ok() -> bool:
        """The settings a sweep checks, as it checks them: each a number or an array's digest."""
        names = ("epochs", "tol", "margin", "lr", "lr_output", "init_scale", "momentum")
        values = {k: settings.get(k) for k in names}
        return recorded_settings_ok({k: v for k, v in values.items() if not (k in ARRAY_SETTINGS and digest(v))})

    def numbers(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)

    def grid_cells() -> bool:
        """A grid's cells: its learning rates (and momenta) as a grid takes them, times its seeds, are the rows."""
        grid = settings.get("grid")
        if grid is None:
            return True
        if not (isinstance(grid, dict) and set(grid) == {"lrs", "momenta", "seeds"}):
            return False
        lrs, momenta = grid["lrs"], grid["momenta"]
        return (
            numbers(lrs)
            and len(lrs) > 0
            and (momenta is None or (numbers(momenta) and len(momenta) > 0))
            and _count(grid["seeds"], MAX_SEEDS)
            and len(lrs) * (1 if momenta is None else len(momenta)) * grid["seeds"] == settings.get("n_seeds")
            and recorded_settings_ok({"lr": lrs, "momentum": momenta or 0.0})
        )

    def start_grid() -> bool:
        grid = settings.get("start_grid")
        if grid is None:
            return True
        return (
            isinstance(grid, dict)
            and numbers(grid.get("base"))
            and len(grid["base"]) == N_PARAMS
            and isinstance(grid.get("axes"), list)
            and len(grid["axes"]) in (0, 2)
            and all(isinstance(a, int) and 0 <= a < N_PARAMS for a in grid["axes"])
            and numbers(grid.get("coords0"))
            and numbers(grid.get("coords1"))
            and len(grid["coords0"]) * len(grid["coords1"]) == settings.get("n_seeds")
            and grid.get("kind") in ("init", "lr")
            and isinstance(grid.get("log"), bool)
            and (grid.get("base_seed") is None or isinstance(grid.get("base_seed"), int))
        )

    if not isinstance(settings, dict):
        return False
    record_at, epochs = settings.get("record_at"), settings.get("epochs")  # (epochs: an int, once scalars_ok)
    return (
        count("chunk_size", MAX_SEEDS)
        and count("n_seeds", MAX_SEEDS)
        and isinstance(settings.get("epochs_to_tol", True), bool)
        and count("n_samples", MAX_SAMPLES)
        and all(settings.get(k) is not None for k in ("epochs", "tol", "lr"))
        and (settings.get("params0") is None or digest(settings.get("params0")))
        and scalars_ok()
        and settings.get("activation", "sigmoid") in ACTIVATIONS
        and settings.get("init", "normal") in INITS
        and settings.get("dtype") in DTYPES
        and isinstance(record_at, list)
        and len(record_at) <= MAX_LENGTHS
        and all(isinstance(e, int) and not isinstance(e, bool) for e in record_at)
        and record_at == sorted(set(record_at))
        and all(1 <= e <= epochs for e in record_at)
        and all(isinstance(settings.get(k), str) for k in ("data_sha256", "seeds_sha256"))
        and start_grid()
        and grid_cells()
    )


def read_store(
    path: str | os.PathLike[str], what: str = "sweep store"
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]], npt.NDArray[np.int64], tuple[npt.NDArray[Any], ...]]:
    """Everything in a store: manifest settings, inputs, and the rows of the valid chunks
    (a path that holds none is an error naming ``what`` was looked for).

    Chunks are read one at a time into the outputs (nothing is held twice);
    sizes come from the manifest and are checked before anything is allocated.

    Returns
    -------
    settings : dict
    inputs : dict of ndarray
        X, y, seeds, and the per-network settings that are arrays (one row per seed).
    rows : ndarray of int64
        Row indices (into ``seeds``) that have results, increasing.
    arrays : tuple of 5 ndarray
        params, final_loss, epochs_to_tol, loss_at, within_at for those rows
        (within_at with no columns unless the store keeps it: a grid's with a margin).
    """
    path = os.fspath(path)
    settings, inputs = _stored_inputs(path, what)
    chunks = _Chunks(path, settings)
    R = chunks.n_record
    F = chunks.dtype.itemsize
    W = chunks.n_within
    check_memory(chunks.n * (F * (N_PARAMS + 1 + R) + W + 16), "path", f"the {chunks.n:,} rows of store {path!r}")
    # Untouched rows of np.empty cost no memory; the valid chunks are packed in order.
    out = (
        np.empty((chunks.n, N_PARAMS), chunks.dtype),
        np.empty(chunks.n, chunks.dtype),
        np.empty(chunks.n, np.int64),
        np.empty((chunks.n, R), chunks.dtype),
        np.empty((chunks.n, W), np.bool_),
    )
    rows = np.empty(chunks.n, np.int64)
    filled = 0
    for index in range(chunks.n_chunks):
        arrays = chunks.read(index)
        if arrays is not None:
            lo, hi = chunks.bounds(index)
            for dst, src in zip(out, arrays, strict=True):
                dst[filled : filled + hi - lo] = src
            rows[filled : filled + hi - lo] = np.arange(lo, hi)
            filled += hi - lo
    return settings, inputs, rows[:filled], tuple(a[:filled] for a in out)
