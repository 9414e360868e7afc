"""Installation: a read-only site-packages, broken Numba caches, the cache guards themselves,
and the test suite's own bookkeeping."""

import os
import shutil
import subprocess
import sys
import threading

import pytest

import fastbackprop
from fastbackprop import Network, _jit, datasets

from .conftest import COVERED_BY_FASTER_TESTS, JIT

X0, Y0 = datasets.gender()


# ---------------------------------------------------------------------------
# Installation: read-only site-packages, broken caches
# ---------------------------------------------------------------------------
RUN_ONCE = "import fastbackprop as fb; X, y = fb.datasets.gender(); print(repr(fb.Network(seed=1).train(X, y)[-1]))"
EXPECTED = None
#: ... and then the cache hits and misses of the kernel it ran.
CACHE_STATS = (
    "; s = fb._kernels.training_kernels(False, False).train.stats;"
    " print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))"
)


def _expected():
    return repr(Network(seed=1).train(X0, Y0)[-1])


def _can_mount_read_only(tmp_path):
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind {tmp_path} {tmp_path} && mount -o remount,bind,ro {tmp_path}"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.parametrize("home", ["writable", "read-only"])
def test_read_only_install_imports_and_runs(tmp_path, home):
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs mount namespaces (unshare -m) to make a read-only site-packages as root")
    site = tmp_path / "site"
    shutil.copytree(
        os.path.dirname(fastbackprop.__file__), site / "fastbackprop", ignore=shutil.ignore_patterns("__pycache__")
    )
    homedir = tmp_path / "home"
    homedir.mkdir()
    ro = [site] + ([homedir] if home == "read-only" else [])
    mounts = " && ".join(f"mount --bind {d} {d} && mount -o remount,bind,ro {d}" for d in ro)
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env.update(HOME=str(homedir), PYTHONPATH=str(site), XDG_CACHE_HOME=str(homedir / ".cache"))
    cmd = f"{mounts} && cd {tmp_path} && {sys.executable} -c '{RUN_ONCE}'"
    res = subprocess.run(["unshare", "-m", "sh", "-c", cmd], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == _expected()
    assert not any(p.name == "__pycache__" for p in (site / "fastbackprop").iterdir())
    cached = [f for _, _, fs in os.walk(homedir) for f in fs if f.endswith((".nbi", ".nbc"))]
    assert bool(cached) == (home == "writable")  # in the user's cache directory, or none


@pytest.mark.skipif(not JIT, reason="the cache holds compiled code")
def test_corrupt_or_truncated_cache_is_recompiled(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run():
        return subprocess.run(
            [sys.executable, "-c", RUN_ONCE + CACHE_STATS],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )

    first = run()
    assert first.returncode == 0 and first.stdout.split("\n")[:2] == [_expected(), "0 1"]  # compiled, written
    files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs]
    for f in files:
        if f.endswith(".nbi"):
            open(f, "wb").write(b"garbage")
        elif f.endswith(".nbc"):
            data = open(f, "rb").read()
            open(f, "wb").write(data[: len(data) // 3])
    for stats in ("0 1", "1 0"):  # recompiles and rewrites, then loads the rewritten entry
        res = run()
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.split("\n")[:2] == [_expected(), stats]


STARTS = (
    "import numpy as np, fastbackprop; from fastbackprop import _kernels as k; out = np.empty((1, 9));"
    " k.init_params(np.zeros(1, np.int64), False, np.ones(1), out);"
    " print(out.tobytes().hex(), sum(k.init_params.stats.cache_hits.values()),"
    " fastbackprop._seeding.init_normal([0]).tobytes().hex())"  # the NumPy twin
)


@pytest.mark.skipif(not JIT, reason="the cache holds compiled code")
def test_an_edit_to_a_module_compiled_into_a_kernel_invalidates_its_cache_entry(tmp_path):
    """Numba keeps an entry while its function's own file is unchanged; the seed map of
    ``_seeding.py`` is compiled into ``_kernels.init_params``, so an edit there must recompile it."""
    site = tmp_path / "site"
    shutil.copytree(
        os.path.dirname(fastbackprop.__file__), site / "fastbackprop", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(site))

    def run():
        res = subprocess.run(
            [sys.executable, "-c", STARTS],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # not the checkout, which `-c` would import first
            timeout=600,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        starts, hits, twin = res.stdout.split()
        assert starts == twin
        return starts, int(hits)

    first, again = run(), run()
    assert first[1] == 0 and again == (first[0], 1)  # compiled, then loaded
    seeding = site / "fastbackprop" / "_seeding.py"
    seeding.write_text(seeding.read_text() + "\nSEED_OFFSET = SEED_OFFSET + np.uint64(1)\n")
    edited = run()  # the edited seed map (its NumPy twin's numbers), compiled again
    assert edited[1] == 0 and edited[0] != first[0]


# ---------------------------------------------------------------------------
# The cache guards themselves (unit level, so both test passes cover them)
# ---------------------------------------------------------------------------
class _FakeCacheFile:
    def __init__(self, path):
        self._index_path = str(path)
        self._source_stamp = "own file"


class _FakeCache:
    def __init__(self, path, fail_saves):
        self._cache_file = _FakeCacheFile(path)
        self.fail_saves = fail_saves
        self.saved = []

    def _index_key(self, sig, codegen):
        return (sig, "code")

    def load_overload(self, sig, ctx):
        raise ValueError("pickle data was truncated")

    def save_overload(self, sig, data):
        if self.fail_saves:
            self.fail_saves -= 1
            raise ValueError("bad index")
        self.saved.append(sig)


class _FakeDispatcher:
    def __init__(self, cache):
        self._cache = cache


@pytest.mark.parametrize("fail_saves", [0, 1, 5])
def test_harden_cache_turns_bad_entries_into_misses(tmp_path, fail_saves):
    index = tmp_path / "f.nbi"
    index.write_bytes(b"garbage")
    cache = _FakeCache(index, fail_saves)
    _jit.harden_cache(_FakeDispatcher(cache), key=("register cap", 64))
    assert cache.load_overload("sig", None) is None
    cache.save_overload("sig", b"data")  # never raises
    assert cache.saved == ([] if fail_saves > 1 else ["sig"])
    assert index.exists() == (fail_saves == 0)
    assert cache._cache_file._source_stamp == ("own file", _jit._sources_stamp())  # and the kernel sources'
    assert cache._index_key("sig", None) == ("sig", "code", ("register cap", 64))  # and the settings given


class _FakeIndexDataFile:
    """Numba's index (key -> data file name) and data files, in memory."""

    def __init__(self):
        self._source_stamp = "own file"
        self.index, self.files = {}, {}

    def save(self, key, data):
        name = self.index.setdefault(key, f"{len(self.index) + 1}.nbc")
        self.files[name] = data

    def load(self, key):
        return self.files.get(self.index.get(key))


def test_a_cache_entry_loads_only_under_its_own_key():
    """Processes saving different entries at once, or a save cut short, can leave Numba's index
    pointing a key at another entry's data file: that is a miss, not the other entry."""
    cache = _FakeCache("unused.nbi", 0)
    cache._cache_file = _FakeIndexDataFile()
    _jit.harden_cache(_FakeDispatcher(cache))
    files = cache._cache_file
    files.save("tanh", "tanh kernel")
    files.save("sigmoid", "sigmoid kernel")
    assert files.load("tanh") == "tanh kernel" and files.load("sigmoid") == "sigmoid kernel"
    files.index["tanh"] = files.index["sigmoid"]  # as a race leaves it
    assert files.load("tanh") is None and files.load("sigmoid") == "sigmoid kernel"
    files.files[files.index["sigmoid"]] = "written before keys were stored"
    assert files.load("sigmoid") is None


def test_compile_while_waiting_raises_the_compiles_error_in_the_caller():
    ran = []
    _jit.compile_while_waiting(lambda: ran.append(threading.current_thread().name))
    assert ran == ["fastbackprop-compile"]
    with pytest.raises(ZeroDivisionError):
        _jit.compile_while_waiting(lambda: 1 / 0)


def test_jit_falls_back_to_no_cache_without_a_locator(monkeypatch):
    made = []

    def fake_njit(**opts):
        def deco(f):
            if opts.get("cache"):
                raise RuntimeError("cannot cache function 'f': no locator available for file 'x.py'")
            made.append(opts)
            return f

        return deco

    monkeypatch.setattr(_jit, "njit", fake_njit)
    f = _jit.jit(cache=True, nogil=True)(lambda: 1)
    assert f() == 1 and made == [dict(cache=False, nogil=True)]

    def other(**opts):
        def deco(f):
            raise RuntimeError("something else")

        return deco

    monkeypatch.setattr(_jit, "njit", other)
    with pytest.raises(RuntimeError, match="something else"):
        _jit.jit(cache=True)(lambda: 1)


def test_every_test_the_coverage_pass_skips_exists():
    """A renamed test would silently leave the skip list: each name must still be defined."""
    here = os.path.dirname(os.path.abspath(__file__))
    for name in COVERED_BY_FASTER_TESTS:
        module, test = name.split("::")
        with open(os.path.join(here, module)) as f:
            assert f"\ndef {test}(" in f.read(), name


def test_public_names_load_on_first_use_and_are_the_modules_own():
    """``import fastbackprop`` loads neither NumPy nor Numba; each name of ``__all__`` then resolves."""
    code = (
        "import sys, fastbackprop as fb; heavy = {'numpy', 'numba'} & set(sys.modules); "
        "from fastbackprop import sweeps, maps; assert fb.reference.sweep and fb.results.SweepResult; "
        "assert fb.sweep is sweeps.sweep and fb.MapResult is maps.MapResult and fb.datasets.xor; "
        "assert all(getattr(fb, name) is not None for name in fb.__all__) and set(fb.__all__) <= set(dir(fb)); "
        "assert set(fb.__all__) == {*fb._HOMES, '__version__', 'datasets'}; "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        fastbackprop.nothing  # noqa: B018 - the attribute access is the test


def test_every_mutant_still_applies_and_names_tests_that_exist():
    """``tests/mutants.py`` is run by hand: its edits must still match the code they mutate and its
    killers must still exist (a dropped test left three mutants pointing at nothing)."""
    import ast
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("mutants", os.path.join(root, "tests", "mutants.py"))
    mutants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutants)
    for m in mutants.MUTANTS:
        for path, old, _new, *count in m.edits:
            with open(os.path.join(root, path)) as f:
                assert f.read().count(old) == (count[0] if count else 1), (m.name, path, old)
        for killer in m.killers:
            path, _, name = killer.partition("::")
            with open(os.path.join(root, path)) as f:
                defined = {n.name for n in ast.walk(ast.parse(f.read())) if isinstance(n, ast.FunctionDef)}
            assert name.split("[")[0] in defined, (m.name, killer)
