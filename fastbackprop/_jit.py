"""Numba infrastructure: the ``jit`` decorator every kernel uses, its options, the
hardened disk cache (``cached``, for the GPU kernels too), and first compiles off
the caller's thread (``compile_while_waiting``).

Kept apart from the maths in ``_kernels``: what is here concerns how Numba
compiles and caches, and reaches into Numba's cache internals, which change
between releases; nothing here changes a result.
"""

import functools
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from numba import njit

# error_model="numpy": no ZeroDivisionError branch on each division (which
# blocks vectorisation); nogil: sweeps and trainings may run from threads.
# No fastmath: LLVM may not contract a*b+c into an FMA on its own, because it
# does so differently in scalar and vector code and a sweep must reproduce
# Network.train bit for bit. The FMAs that pay (exp) are written as _fma.
OPTS: dict[str, Any] = dict(cache=True, nogil=True, error_model="numpy")
# Helpers called inside the lane loop are inlined in Numba IR: LLVM's inliner
# leaves some calls in place, and one call in the loop stops vectorisation.
INLINE: dict[str, Any] = dict(OPTS, inline="always")


#: The modules whose code or constants compiled code contains: a kernel in
#: ``_kernels`` has the seed map of ``_seeding`` and the offsets of ``_layout``
#: compiled in, and a simulated GPU step the helpers of ``_kernels``.
_SOURCES = ("_jit.py", "_kernels.py", "_layout.py", "_seeding.py", "_cuda.py")


@functools.cache
def _sources_stamp() -> str:
    """A SHA-256 of the files of ``_SOURCES`` (their content: a checkout's new mtimes keep the cache)."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in _SOURCES:
        with open(os.path.join(here, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def harden_cache(dispatcher: Any, key: tuple[Any, ...] = ()) -> Any:
    """Make ``dispatcher``'s on-disk cache entries safe to reuse.

    Numba raises on a corrupt or truncated index/data file (pickle errors); a
    crash mid-write or a stale file from another build must not break the
    package, so such an entry is recompiled and, if possible, rewritten.

    Numba also keeps an entry for as long as the function's own file is
    unchanged, although code from other files is compiled into it; an edit to
    ``_seeding.py`` would leave stale seed maps in the cached kernels. Each
    entry is stamped with every file of ``_SOURCES`` instead.

    Numba's index maps each key to a numbered data file, without a lock:
    processes saving different entries of one function at once, or a save cut
    short, can leave a key pointing at another entry's file, of the same
    signature, which would run and compute something else. Each data file
    holds its key too, and is loaded only under it.

    ``key``: what else is compiled into an entry and shows neither in the
    function's code nor in its closure (settings read at compile time, as a
    register cap); it joins each entry's index key.
    """
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or not hasattr(cache, "load_overload"):
        return dispatcher
    cache_file: Any = getattr(cache, "_cache_file", None)
    if hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = (cache_file._source_stamp, _sources_stamp())
    if hasattr(cache_file, "save"):
        _bind_entries_to_keys(cache_file)
    if key:
        index_key = cache._index_key
        cache._index_key = lambda sig, codegen: (*index_key(sig, codegen), key)
    load, save = cache.load_overload, cache.save_overload

    def load_overload(sig: Any, target_context: Any) -> Any:
        try:
            return load(sig, target_context)
        except Exception:  # noqa: BLE001 - any unreadable entry is a cache miss
            return None

    def save_overload(sig: Any, data: Any) -> None:
        try:
            save(sig, data)
        except Exception:  # noqa: BLE001 - corrupt index: drop it and try once more
            try:
                os.remove(cache._cache_file._index_path)
                save(sig, data)
            except Exception:  # noqa: BLE001 - caching is an optimisation only
                pass

    cache.load_overload, cache.save_overload = load_overload, save_overload
    return dispatcher


def _bind_entries_to_keys(cache_file: Any) -> None:
    """Store each entry of ``cache_file`` (Numba's index and data files) with its key; load it only under that key."""
    save, load = cache_file.save, cache_file.load

    def save_keyed(key: Any, data: Any) -> None:
        save(key, (key, data))

    def load_keyed(key: Any) -> Any:
        stored = load(key)
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key:
            return stored[1]
        return None  # another entry's file (or one from before the key was stored): a miss

    cache_file.save, cache_file.load = save_keyed, load_keyed


def cached(make: Callable[[bool], Any], key: tuple[Any, ...] = ()) -> Any:
    """``make(True)``, a dispatcher caching on disk, hardened (``harden_cache``); ``make(False)`` where it cannot be.

    With no writable place for the cache (read-only site-packages and no
    writable user cache directory), Numba refuses to create the function;
    then it compiles without caching instead.
    """
    try:
        return harden_cache(make(True), key)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        return make(False)


def jit(**opts: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**opts)`` that survives an unusable cache (``cached``)."""
    if not opts.get("cache"):
        return njit(**opts)
    return lambda func: cached(lambda cache: njit(**dict(opts, cache=cache))(func))


def compile_while_waiting(first_call: Callable[[], Any]) -> None:
    """Run ``first_call()`` (one that compiles or loads a kernel: seconds) on a thread of its own while this one waits.

    Ctrl-C then stops the caller at once. Raised in the compiling thread, it
    could land in one of LLVM's callbacks into Python, which drop it: the
    caller's long run would go on to its end. The compile, left running,
    finishes or ends with the process. Its errors are raised here.
    """
    done: Future[None] = Future()

    def run() -> None:
        try:
            first_call()
            done.set_result(None)
        except BaseException as exc:  # noqa: BLE001 - raised in the waiting thread
            done.set_exception(exc)

    threading.Thread(target=run, name="fastbackprop-compile", daemon=True).start()
    done.result()
