"""Command line: ``fastbackprop train | sweep | grid | map | merge | show | info`` (also ``python -m fastbackprop``)."""

import argparse
import contextlib
import io
import itertools
import json
import math
import os
import re
import sys
import threading
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import datasets
from ._layout import N_PARAMS
from ._settings import ACTIVATIONS, DEVICES, DTYPES, INITS
from ._validation import check_memory, check_momentum, check_positive_float, store_problem
from ._version import __version__
from .network import Network
from .plot import MAP_WHATS
from .store import cannot_write, not_a_file, write_atomic
from .sweeps import grid, sweep

#: Seed of ``fastbackprop train``: its log looks like the classic tutorial's
#: (loss 0.37 before training, 0.0003 after 3000 epochs; Emily 0.98, Frank 0.02).
DEFAULT_SEED = 2


#: Seconds to wait for a Dask scheduler to answer (--scheduler).
SCHEDULER_TIMEOUT_S = 30


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr and exit code 2, -1e-3 and -inf are
    numbers, and a flag is never an abbreviation (``sweep --seed 5`` is not ``--seeds 5``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})
        # argparse (3.11) reads only -1 and -1.5 as negative numbers; -1e-3 would be taken
        # for an option and "--extent -1e-3 1e-3 ..." refused, and -inf refused as "expected
        # one argument" rather than as not finite (the attribute is argparse's own)
        self._negative_number_matcher = re.compile(
            r"^-((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf|infinity|nan)$", re.IGNORECASE
        )

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_data_options(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--dataset", choices=sorted(datasets.DATASETS), default="gender", help="built-in training data (default gender)"
    )
    g.add_argument(
        "--data", metavar="FILE.csv", help="training data from a CSV file: columns x0, x1, y, header row optional"
    )


def _add_training_options(p, margin=False, momentum_list=False):
    """The training options of train, sweep and grid (grid takes several momenta)."""
    p.add_argument("--lr-output", type=float, metavar="LR", help="learning rate of the output neuron (default: --lr)")
    if momentum_list:
        p.add_argument(
            "--momentum",
            type=float,
            nargs="+",
            metavar="M",
            help="momenta in [0, 1) to cross with the learning rates (default: plain SGD only)",
        )
    else:
        _add_momentum_option(p)
    p.add_argument(
        "--init",
        choices=INITS,
        default="normal",
        help="distribution of the starting parameters: N(0, 1) or U[-1, 1) (default normal)",
    )
    p.add_argument(
        "--init-scale",
        type=float,
        default=1.0,
        metavar="S",
        help="standard deviation (normal) or half-width (uniform) of the starts (default 1)",
    )
    _add_activation_option(p)
    if margin:
        _add_margin_option(p)


def _add_momentum_option(p):
    p.add_argument("--momentum", type=float, default=0.0, metavar="M", help="classical momentum in [0, 1) (default 0)")


def _add_activation_option(p):
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default="sigmoid",
        help="of all three neurons (default sigmoid); tanh accepts targets in [-1, 1]",
    )


def _add_margin_option(p):
    p.add_argument(
        "--margin",
        type=float,
        metavar="M",
        help="converged when every |y - ypred| < M (e.g. 0.4) instead of loss < tol",
    )


def _add_params0_option(p):
    p.add_argument(
        "--params0",
        metavar="FILE.npy",
        help=f"starting points, an (S, {N_PARAMS}) array saved with numpy.save, instead of the seeds' "
        "(--seeds then optional: rows 0 .. S-1)",
    )


def _seeds(text):
    """--seeds: "N" (seeds 0 .. N-1, checked by the API) or "START:STOP" (seeds START .. STOP-1)."""
    if ":" not in text:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: give N or START:STOP") from None
    try:
        start, stop = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid range {text!r}: give START:STOP, two integers") from None
    if start < 0:
        raise argparse.ArgumentTypeError(f"range {text!r}: START must be >= 0")
    if start >= stop:
        raise argparse.ArgumentTypeError(f"range {text!r}: START must be < STOP")
    if stop > 2**63:
        raise argparse.ArgumentTypeError(f"range {text!r}: seeds must fit in int64 (STOP <= 2**63)")
    return range(start, stop)


def _add_sweep_options(p, seeds_default=1000):
    p.add_argument(
        "--seeds",
        type=_seeds,
        default=None,  # not given: seeds_default, or the rows of --params0
        metavar="N|START:STOP",
        help=f"train seeds 0 .. N-1, or START .. STOP-1 (one slice of a job array; default {seeds_default})",
    )
    p.set_defaults(seeds_default=seeds_default)
    _add_run_options(p)


def _add_run_options(p):
    """How a sweep, grid or map runs and reports: dtype, threads, tol, output, store, cluster, device."""
    p.add_argument("--dtype", choices=list(DTYPES), default="float64", help="training precision (default float64)")
    p.add_argument("--threads", type=int, default=None, metavar="T", help="threads (default: all cores)")
    p.add_argument("--tol", type=float, default=1e-2, help="a seed converged if its final loss < tol (default 0.01)")
    p.add_argument(
        "--epochs-to-tol",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="find each seed's epochs to tol (default); --no-epochs-to-tol: only the final outcome, "
        "faster where some seeds never converge (XOR at lr 0.5: 1.35x in float64, 1.7x in float32)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the report")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal and tqdm is installed)",
    )
    p.add_argument(
        "--store", metavar="DIR", help="keep results in DIR chunk by chunk; rerunning the same command resumes"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster (e.g. tcp://10.0.0.5:8786) instead of local threads",
    )
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="train on the CPU (default) or on an NVIDIA GPU (needs the cuda extra)",
    )


def _add_map_options(p):
    """Where a map starts, its size and its outputs (map init and map lr)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--base", type=int, default=DEFAULT_SEED, metavar="SEED", help=f"seed of the start (default {DEFAULT_SEED})"
    )
    g.add_argument("--base-params", metavar="FILE.npy", help=f"the start, a ({N_PARAMS},) array saved with numpy.save")
    p.add_argument(
        "--resolution", type=int, nargs=2, default=[256, 256], metavar=("N0", "N1"), help="pixels (default 256 256)"
    )
    p.add_argument(
        "--zoom",
        type=float,
        nargs=3,
        metavar=("C0", "C1", "F"),
        help="narrow the extent by a factor F > 1 around the point (C0, C1), given in the extent's units "
        "(centred there, also where that reaches past the extent)",
    )
    p.add_argument("--epochs", type=int, default=3000, help="epochs per pixel (default 3000)")
    _add_momentum_option(p)
    _add_activation_option(p)
    _add_margin_option(p)
    _add_data_options(p)
    _add_run_options(p)
    p.add_argument("--out", metavar="FILE.npz", help="save the MapResult (read it with fastbackprop.load_map)")
    p.add_argument("--plot", metavar="FILE.png", help="save the map as an image")
    _add_what_option(p, "what --plot draws")


def _add_what_option(p, says):
    p.add_argument(
        "--what",
        choices=MAP_WHATS,
        default=None,
        help=f"{says} (default epochs_to_tol, or converged where epochs to tol were not tracked or none were trained)",
    )


def _build_parser():
    parser = _Parser(
        prog="fastbackprop",
        description="A 2-2-1 sigmoid (or tanh) network trained by hand-derived backprop, and seed sweeps of it.",
        epilog="examples:\n  fastbackprop train\n  fastbackprop sweep --dataset xor --seeds 100000 --lr 0.5\n"
        "  fastbackprop sweep --dataset xor-bipolar --activation tanh --lr 0.1 --momentum 0.9 --init uniform "
        "--init-scale 0.5 --margin 0.2 --epochs 750\n"
        "  fastbackprop grid --dataset xor --lr 0.1 0.5 2 --epochs 500 3000 --seeds 20000\n"
        "  fastbackprop map init --dataset xor --axes w1 w5 --extent -4 4 -6 6 --resolution 512 512 --plot map.png\n"
        "'fastbackprop COMMAND --help' describes each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fastbackprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    train = sub.add_parser(
        "train",
        help="train one network: the classic experiment",
        description=(
            "Train one network by per-sample SGD and print its loss log, then its "
            "predictions. 'Epoch k' is the full-dataset MSE after k epochs "
            "(Epoch 0: before training)."
        ),
        epilog="examples:\n  fastbackprop train\n"
        "  fastbackprop train --dataset xor --lr 0.5 --epochs 5000 --log-every 500 --plot xor.png\n"
        "  fastbackprop train --dataset xor-bipolar --activation tanh --lr 0.1 --momentum 0.9 --init uniform "
        "--init-scale 0.5 --epochs 750 --seed 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"seed of the starting parameters (default {DEFAULT_SEED})"
    )
    train.add_argument("--epochs", type=int, default=3000, help="passes over the data (default 3000)")
    train.add_argument("--lr", type=float, default=0.2, help="learning rate (default 0.2)")
    _add_training_options(train)
    _add_data_options(train)
    train.add_argument(
        "--log-every", type=int, default=1000, metavar="N", help="print the loss every N epochs (default 1000)"
    )
    train.add_argument("--plot", metavar="FILE.png", help="save the loss curve beside the decision surface")

    sw = sub.add_parser(
        "sweep",
        help="train many seeds and report how often they converge",
        description="Train one network per seed (0 .. N-1, or START .. STOP-1) and report the success rate "
        "(final loss < tol) with its 95% Wilson interval, final-loss quantiles, "
        "median epochs to tol, wall time and runs/s.",
        epilog="examples:\n  fastbackprop sweep --dataset xor --seeds 100000 --lr 0.5\n"
        "  fastbackprop sweep --data points.csv --seeds 10000 --epochs 2000 --json --out run.npz\n"
        "  fastbackprop sweep --dataset xor --seeds 20000 --plot sweep.png\n"
        "  fastbackprop sweep --dataset xor-bipolar --activation tanh --lr 0.1 --momentum 0.9 --init uniform "
        "--init-scale 0.5 --margin 0.2 --epochs 750\n"
        "  fastbackprop sweep --dataset xor --params0 starts.npy --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(sw)
    sw.add_argument("--epochs", type=int, default=3000, help="epochs per seed (default 3000)")
    sw.add_argument("--lr", type=float, default=0.2, help="learning rate (default 0.2)")
    _add_training_options(sw, margin=True)
    _add_params0_option(sw)
    _add_sweep_options(sw)
    sw.add_argument("--out", metavar="FILE.npz", help="save the SweepResult (read it with fastbackprop.load_sweep)")
    sw.add_argument("--plot", metavar="FILE.png", help="save the final-loss histogram and convergence curve")

    gr = sub.add_parser(
        "grid",
        help="success rate over learning rates x training lengths",
        description="Every (learning rate, seed) network trained once, all in one sweep, for the longest "
        "--epochs; the success rate at each shorter length is read from the same runs.",
        epilog="examples:\n  fastbackprop grid --dataset xor --lr 0.1 0.2 0.5 1 2 --epochs 500 1000 3000 "
        "--seeds 10000 --plot grid.png\n"
        "  fastbackprop grid --dataset xor --lr 0.1 0.5 --momentum 0 0.5 0.9 --epochs 500 3000 --seeds 10000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(gr)
    gr.add_argument("--lr", type=float, nargs="+", required=True, metavar="LR", help="learning rates")
    gr.add_argument("--epochs", type=int, nargs="+", required=True, metavar="E", help="training lengths")
    _add_training_options(gr, margin=True, momentum_list=True)
    _add_params0_option(gr)
    _add_sweep_options(gr)
    gr.add_argument("--out", metavar="FILE.npz", help="save the GridResult (read it with fastbackprop.load_grid)")
    gr.add_argument(
        "--plot",
        metavar="FILE.png",
        help="save a heat map of the success rates (with --momentum: lr x momentum at the longest --epochs)",
    )
    mp = sub.add_parser(
        "map",
        help="maps of trainability: one network per pixel of a slice of starts or learning rates",
        description="Train one network per pixel of a 2-D grid of starting points (map init) or of "
        "learning rates (map lr) and report, plot or save the map.",
        epilog="examples:\n  fastbackprop map init --dataset xor --axes w1 w5 --extent -4 4 -6 6 "
        "--resolution 1024 1024 --plot map.png\n"
        "  fastbackprop map init --dataset xor --axes w1 w5 --extent -4 4 -6 6 --zoom 1.5 2 8 --plot zoom.png\n"
        "  fastbackprop map lr --dataset xor --lr -2 1 --lr-output -2 1 --resolution 512 512 --plot lr.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    maps = mp.add_subparsers(dest="map_kind", metavar="KIND", parser_class=_Parser)
    maps.required = True
    mi = maps.add_parser(
        "init",
        help="a 2-D slice of starting points",
        description="Pixel (j, i) starts from the base with AXIS0 = the i-th and AXIS1 = the j-th of "
        "evenly spaced values spanning the extent (ends included).",
        epilog="example:\n  fastbackprop map init --dataset xor --axes w1 w5 --extent -4 4 -6 6 --resolution 512 512 "
        "--lr 0.5 --plot map.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mi.add_argument("--axes", nargs=2, required=True, metavar=("AXIS0", "AXIS1"), help="two of w1 .. w6, b1 .. b3")
    mi.add_argument(
        "--extent", type=float, nargs=4, required=True, metavar=("LO0", "HI0", "LO1", "HI1"), help="the slice"
    )
    mi.add_argument("--lr", type=float, default=0.2, help="learning rate (default 0.2)")
    mi.add_argument("--lr-output", type=float, metavar="LR", help="learning rate of the output neuron (default: --lr)")
    _add_map_options(mi)
    ml = maps.add_parser(
        "lr",
        help="a 2-D grid of learning rates (hidden layer x output neuron)",
        description="Pixel (j, i) trains the base with lr = the i-th and lr_output = the j-th of "
        "log-spaced learning rates between 10**LO and 10**HI (with --linear: evenly spaced between LO and HI).",
        epilog="example:\n  fastbackprop map lr --dataset xor --lr -2 1 --lr-output -2 1 --resolution 512 512 "
        "--plot lr.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ml.add_argument("--lr", type=float, nargs=2, required=True, metavar=("LO", "HI"), help="hidden-layer range")
    ml.add_argument("--lr-output", type=float, nargs=2, required=True, metavar=("LO", "HI"), help="output-neuron range")
    ml.add_argument("--linear", action="store_true", help="LO, HI are learning rates, evenly spaced (not log10)")
    _add_map_options(ml)

    merge = sub.add_parser(
        "merge",
        help="merge sweeps or grids run in pieces (a job array's tasks) into one result",
        description="Combine sweep result files and stores (complete or partial) of the same data and "
        "shared settings (per-network ones, such as lr, may differ from part to part) into one result, rows in "
        "seed order, and report missing seeds (the result is then incomplete; the exit code is still 0). Parts "
        "that are grids (files written by grid --out, or finished grids' stores) of the same cells on other "
        "seeds are combined into one grid, seeds in order.",
        epilog="examples:\n  fastbackprop merge xor.npz part-0 part-1 part-2\n"
        "  fastbackprop merge grid.npz grid-0.npz grid-1.npz --seeds 20000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument(
        "out", metavar="OUT.npz", help="the merged result (read it with fastbackprop.load_sweep, or load_grid)"
    )
    merge.add_argument("parts", metavar="PART", nargs="+", help="result files (.npz) or store directories")
    merge.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        metavar="N|START:STOP",
        help="the seeds the whole sweep was meant to cover (0 .. N-1, or START .. STOP-1): those in no part are "
        "missing (without it, a first or last task that never ran is not seen: only gaps between the seeds present)",
    )
    merge.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the report")
    merge.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT if it exists (without it an existing OUT is refused: a forgotten OUT would make the "
        "first part the output, and lose it)",
    )

    show = sub.add_parser(
        "show",
        help="report a saved sweep, grid or map: a file written by --out or merge, or a store",
        description="Read a sweep's, grid's or map's result file (.npz, as --out or merge writes it) or store "
        "(--store DIR, finished or not) and print its report as the command that made it does, training nothing.",
        epilog="examples:\n  fastbackprop show run.npz\n  fastbackprop show xor-store --json\n"
        "  fastbackprop show grid.npz --plot grid.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("path", metavar="PATH", help="a result file (.npz) or a store directory")
    show.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the report")
    show.add_argument("--plot", metavar="FILE.png", help="save the figure the command that made it saves with --plot")
    _add_what_option(show, "for a map: what --plot draws")

    info = sub.add_parser(
        "info",
        help="what a bug report needs: versions, CPU, threads, kernel cache, extras",
        description="Print the package, Python, NumPy, Numba and LLVM versions, the CPU and the vector width the "
        "kernels compile for, the thread count, where the kernel cache lives and whether the sweep kernel is in "
        "it, which optional extras are installed, and the GPU (or why device='cuda' cannot run here).",
        epilog="examples:\n  fastbackprop info\n  fastbackprop info --json > info.json   # attach to a bug report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _load_data(args):
    if args.data is None:
        return datasets.load(args.dataset)
    if not args.data:
        raise ValueError("--data must name a CSV file, got ''")
    try:  # y checked against the command's units, naming the file's line
        return datasets.load_csv(args.data, getattr(args, "activation", None))
    except OSError as exc:  # missing, a folder, unreadable: named by the flag
        raise ValueError(f"--data {args.data!r}: {exc.strerror or exc}") from None


def _progress(args):
    if args.progress is not None:
        return args.progress
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def _client(args):
    """A Dask client connected to --scheduler for the duration of a command, or None."""
    if args.scheduler is None:
        yield None
        return
    if not args.scheduler.strip():
        raise ValueError("--scheduler must name a scheduler's address, got ''")
    try:
        from dask.distributed import Client
    except ImportError:
        raise ImportError("--scheduler needs Dask: pip install 'fastbackprop[distributed]'") from None
    # Client's own timeout does not cover a peer that accepts and never answers
    # (a dashboard's port instead of the scheduler's): connect on a thread, wait
    # as long, and leave the thread behind if it is still trying.
    made: dict[str, Any] = {}

    def connect():
        try:
            made["client"] = Client(args.scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            made["error"] = exc

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(SCHEDULER_TIMEOUT_S)
    if "error" in made:
        raise made["error"]
    if "client" not in made:
        raise TimeoutError(f"--scheduler {args.scheduler!r}: no Dask scheduler answered within {SCHEDULER_TIMEOUT_S} s")
    with made["client"] as client:
        yield client


def _check_output(path, flag, kind, in_place=False):
    """Refuse, before any computing, an output path that cannot be written.

    ``kind`` is "file" (--out, --plot: its folder must exist and be writable,
    and it must not be a folder) or "store" (--store: a writable folder, or a
    path whose nearest existing folder is writable).
    """
    if path is None:
        return
    if not path:
        raise ValueError(f"{flag} must name a {'file' if kind == 'file' else 'folder'}, got ''")
    if kind == "file":
        if os.path.isdir(path):
            raise ValueError(f"{flag} {path!r} is a directory; give a file name")
        if problem := not_a_file(path):
            raise ValueError(f"{flag} {path!r} {problem}")
        path = os.path.realpath(path)  # the file a symbolic link names is the one written
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            missing = "is not a directory" if os.path.exists(parent) else "does not exist"
            raise ValueError(f"{flag} {path!r}: {parent!r} {missing}")
        if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
            raise ValueError(f"{flag} {path!r} is not writable")
        if problem := cannot_write(path, in_place):  # a name too long, a read-only filesystem: now, not after the run
            raise ValueError(f"{flag} {path!r} {problem}")
        return
    if problem := store_problem(path):
        raise ValueError(f"{flag} {path!r} {problem}")


def _check_plot(path):
    """--plot: writable, with a format matplotlib can write (needs the plot extra)."""
    if path is None:
        return
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    _check_output(path, "--plot", "file", in_place=ext == "pgf")  # as _save_figure writes it
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'fastbackprop[plot]'") from None
    formats = FigureCanvasBase.get_supported_filetypes()
    if ext not in formats:
        raise ValueError(f"--plot {path!r}: unknown figure format {ext!r}; use one of {', '.join(sorted(formats))}")
    # Some formats need a program besides matplotlib (pgf: LaTeX): try one, before the run, not after.
    from matplotlib.figure import Figure

    probe = Figure(figsize=(1, 1))
    probe.text(0.5, 0.5, "1")
    try:
        probe.savefig(io.BytesIO(), format=ext)
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the format cannot be written here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--plot {path!r}: matplotlib cannot write {ext!r} here ({reason})") from None


def _check_outputs(args, out_flag="--out"):
    """The command's --out, --plot and --store: each writable, and no two the same path, before computing."""
    named = {
        flag: getattr(args, attr, None) for flag, attr in ((out_flag, "out"), ("--plot", "plot"), ("--store", "store"))
    }
    _check_output(named[out_flag], out_flag, "file")
    _check_plot(named["--plot"])
    _check_output(named["--store"], "--store", "store")
    given = [(flag, path) for flag, path in named.items() if path]
    for (flag, path), (other, other_path) in itertools.combinations(given, 2):
        if os.path.realpath(path) == os.path.realpath(other_path):
            raise ValueError(f"{flag} and {other} name the same path {path!r}: one would overwrite the other")
    read = {"--data": "data", "--params0": "params0", "--base-params": "base_params", "PATH": "path"}
    for flag, path in given:
        for source, read_path in ((f, getattr(args, a, None)) for f, a in read.items()):
            if read_path and _same_file(path, read_path):
                raise ValueError(f"{flag} and {source} name the same file {path!r}: the run would replace its input")
    if named["--store"]:
        inside = os.path.realpath(named["--store"]) + os.sep
        for flag, path in given:
            if flag != "--store" and os.path.realpath(path).startswith(inside):
                raise ValueError(
                    f"{flag} {path!r} lies inside --store {named['--store']!r}, whose files it could replace"
                )


def _same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file: the same real path, or, both existing, one inode
    (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet)
        return False


def _save_figure(fig, path):
    """Write the figure beside ``path`` and move it there (Ctrl-C leaves no half figure), but pgf,
    whose raster parts are files named after the file it is written to, in place."""
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if ext == "pgf":
        fig.savefig(path, dpi=150)
    else:
        write_atomic(path, lambda f: fig.savefig(f, dpi=150, format=ext))
    print(f"figure written to {path}", file=sys.stderr)


def _summary(res):
    """A result's summary as the command line says it: its one Python-only setting named by its flag."""
    return res.summary().replace("(epochs_to_tol=False)", "(--no-epochs-to-tol)")


def _run_train(args):
    if args.log_every < 1:
        raise ValueError(f"--log-every must be >= 1, got {args.log_every}")
    _check_training_options(args)
    _check_outputs(args)
    X, y = _load_data(args)
    net = Network(seed=args.seed, init=args.init, init_scale=args.init_scale, activation=args.activation)
    if args.plot:  # what the figure needs, before the run
        from . import plot

        if args.epochs == 0:
            raise ValueError("--plot draws the loss of each epoch: --epochs 0 trains none")
        hint = "; without --plot only the losses logged are kept"
        check_memory(8 * args.epochs, "--epochs", f"the loss of each of {args.epochs:,} epochs, for --plot", hint)
        try:
            plot._surface_inputs(net, X, y)
        except ValueError as exc:
            raise ValueError(f"--plot: {exc}") from None
    initial = net.loss(X, y)
    # the figure draws every epoch's loss; the log needs only the ones it prints
    every = 1 if args.plot else args.log_every
    history = net.train(
        X, y, args.epochs, args.lr, lr_output=args.lr_output, momentum=args.momentum, history_every=every
    )
    logged = history[args.log_every - 1 :: args.log_every] if args.plot else history
    print(f"Epoch 0: loss {initial:.4f}")
    for k, loss in zip(range(args.log_every, args.epochs + 1, args.log_every), logged):
        print(f"Epoch {k}: loss {loss:.4f}")
    if args.epochs % args.log_every:
        print(f"Epoch {args.epochs}: loss {history[-1]:.4f}")
    if args.dataset == "gender" and not args.data:
        for name, (x, label) in datasets.gender_queries().items():
            print(f"{name}: {net.feedforward(x):.3f} ({'F' if label else 'M'} expected)")
    else:
        for x, target in zip(X, y):
            print(f"x = ({x[0]:g}, {x[1]:g}): {net.feedforward(x):.3f} (target {target:g})")
    if args.plot:
        _save_figure(plot.train_summary(net, history, X, y), args.plot)
    return 0


def _data_name(args):
    return args.data if args.data else args.dataset


def _check_training_options(args):
    """The training options' flags, checked before anything is computed, each error naming its flag."""
    if args.lr_output is not None:
        check_positive_float(args.lr_output, "--lr-output")
    momenta = args.momentum if isinstance(args.momentum, list) else [] if args.momentum is None else [args.momentum]
    for m in momenta:
        check_momentum(m, "--momentum")
    check_positive_float(args.init_scale, "--init-scale")
    if getattr(args, "margin", None) is not None:
        check_positive_float(args.margin, "--margin")


def _load_starts(path, flag, shape):
    """``flag FILE.npy``: a finite real array of ``shape`` ("S" any size >= 1), or a one-line error naming both."""
    where = f"{flag} {path!r}"
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would be waited on (np.load cannot read one)
        raise ValueError(f"{where}: not a regular file")
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # np.load takes anything that is not .npy/.npz for a pickle, which allow_pickle=False refuses
        if "pickle" in str(exc):
            raise ValueError(f"{where}: not a .npy file") from None
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{where}: cannot read it ({reason})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise ValueError(f"{where}: an .npz archive; give one array saved with numpy.save (.npy)")
    if arr.ndim != len(shape) or any(n != m for n, m in zip(arr.shape, shape) if m != "S") or arr.size == 0:
        wanted = str(shape).replace("'", "") + " array" + (" with S >= 1" if "S" in shape else "")
        raise ValueError(f"{where}: expected an {wanted}, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{where}: expected real numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: values must be finite")
    return arr


def _load_params0(path):
    """--params0 FILE.npy: a finite real (S, 9) array, or a one-line error naming the flag and the file."""
    return None if path is None else _load_starts(path, "--params0", ("S", N_PARAMS))


def _sweep_seeds(args, params0):
    """--seeds as given; not given: the rows of --params0 (seeds None), else the default count."""
    if args.seeds is not None:
        return args.seeds
    return None if params0 is not None else args.seeds_default


def _shared_options(args, client):
    """The keyword arguments of the flags that sweep, grid and map share."""
    return dict(
        activation=args.activation,
        margin=args.margin,
        tol=args.tol,
        dtype=args.dtype,
        epochs_to_tol=args.epochs_to_tol,
        threads=args.threads,
        progress=_progress(args),
        store=args.store,
        client=client,
        device=args.device,
    )


def _run_sweep(args):
    _check_training_options(args)
    _check_outputs(args)
    params0 = _load_params0(args.params0)
    X, y = _load_data(args)
    with _client(args) as client:
        res = sweep(
            X,
            y,
            _sweep_seeds(args, params0),
            epochs=args.epochs,
            lr=args.lr,
            lr_output=args.lr_output,
            momentum=args.momentum,
            init=args.init,
            init_scale=args.init_scale,
            params0=params0,
            **_shared_options(args, client),
        )
    # Files first: a reader that goes away (| head) must not cost the result.
    if args.out:
        res.save(args.out)
        print(f"result written to {args.out}", file=sys.stderr)
    if args.plot:
        from . import plot

        _save_figure(plot.sweep_summary(res), args.plot)
    if args.json:
        print(json.dumps({"data": _data_name(args), **res.report()}))
    else:
        print(f"data {_data_name(args)}: " + _summary(res))
    return 0


def _run_grid(args):
    _check_training_options(args)
    _check_outputs(args)
    params0 = _load_params0(args.params0)
    X, y = _load_data(args)
    with _client(args) as client:
        res = grid(
            X,
            y,
            _sweep_seeds(args, params0),
            lrs=args.lr,
            epochs_list=args.epochs,
            momenta=args.momentum,
            lr_output=args.lr_output,
            init=args.init,
            init_scale=args.init_scale,
            params0=params0,
            **_shared_options(args, client),
        )
    # Files first: a reader that goes away (| head) must not cost the result.
    if args.out:
        res.save(args.out)
        print(f"result written to {args.out}", file=sys.stderr)
    if args.plot:
        from . import plot

        _save_figure(plot.grid_heatmap(res), args.plot)
    if args.json:
        print(json.dumps({"data": _data_name(args), **res.report()}))
    else:
        print(f"data {_data_name(args)}: {_summary(res)}")
    return 0


def _run_merge(args):
    from .merge import _merge, _merge_grids, describe_gaps
    from .store import result_kind

    _check_outputs(args, "OUT")
    if os.path.lexists(args.out) and not args.overwrite:
        raise ValueError(
            f"OUT {args.out!r} exists: give --overwrite to replace it (OUT is the first name after merge; "
            "a forgotten one makes the first part the output)"
        )
    out = os.path.realpath(args.out)
    for part in args.parts:
        if _same_file(args.out, part):
            raise ValueError(f"OUT {args.out!r} is also one of the parts: write the merged result elsewhere")
        if os.path.isdir(part) and out.startswith(os.path.realpath(part) + os.sep):
            raise ValueError(f"OUT {args.out!r} lies inside the store {part!r}, whose files it could replace")
    kinds = {}
    for part in args.parts:
        with contextlib.suppress(OSError, ValueError):  # what it is not, the merge says
            kinds[part] = result_kind(part)
    grids = [part for part in args.parts if kinds.get(part) == "grid"]
    if grids and len(grids) < len(args.parts):
        other = next(part for part in args.parts if kinds.get(part) != "grid")
        if other not in kinds:  # missing, unreadable: its own error
            result_kind(other)
        raise ValueError(
            f"PART {grids[0]!r} holds a grid and PART {other!r} does not: merge joins the parts of one sweep or "
            "of one grid"
        )
    res, gaps = (_merge_grids if grids else _merge)(args.parts, args.seeds)
    rows = "networks" if grids else "seeds"
    res.save(args.out)
    print(f"result written to {args.out}", file=sys.stderr)
    if args.json:
        # as the summary: a merge trains nothing, so no speed; wall_seconds and computed are the parts' sums
        merged = {"parts": len(args.parts), "missing": [list(g) for g in gaps]}
        trained = {"runs_per_second": None} | ({} if math.isfinite(res.wall_seconds) else {"computed": None})
        print(json.dumps({**merged, **res.report(), **trained}))
    else:
        # A merge trains nothing: its wall time and seeds trained are the parts' own, summed
        # over those that say (a result in memory or saved; a store does not).
        lines = [line for line in _summary(res).splitlines() if not line.startswith("wall time ")]
        if math.isfinite(res.wall_seconds):
            lines.append(
                f"the parts' wall time {res.wall_seconds:.3g} s and {res.computed} {rows} trained, "
                "summed over the result files (stores keep neither)"
            )
        print(f"merged {len(args.parts)} part{'s' * (len(args.parts) != 1)}: " + "\n".join(lines))
        if gaps:
            print(f"missing seeds: {describe_gaps(gaps)}")
        if not getattr(res, "complete", True) and not gaps:  # (a grid is made of finished grids only)
            print("incomplete: a part is a partial result, which does not say which seeds it was made for")
    return 0


def _run_show(args):
    from .maps import load_map
    from .results import load_grid, load_sweep
    from .store import manifest_settings, planned_seeds, result_kind

    if args.what is not None and args.plot is None:
        raise ValueError(f"--what chooses what --plot draws; give --plot FILE too, or drop --what {args.what}")
    _check_outputs(args)
    kind = result_kind(args.path)
    if args.what is not None and kind != "map":
        raise ValueError(f"--what chooses what a map's --plot draws; PATH {args.path!r} holds a {kind}")
    readers: dict[str, Any] = {"sweep": load_sweep, "grid": load_grid, "map": load_map}
    try:
        res = readers[kind](args.path)
    except ValueError:
        # a grid's store with networks still to train (its cells need every one): how far it got
        finished = load_sweep(args.path) if kind == "grid" and os.path.isdir(args.path) else None
        if finished is None or finished.complete:
            raise
        planned = planned_seeds(args.path).shape[0]
        settings = manifest_settings(args.path)  # (sound: load_sweep read the store)
        cells = {"lrs": settings["grid"]["lrs"], "momenta": settings["grid"]["momenta"]}
        made = {**cells, "epochs": settings["record_at"], "seeds": settings["grid"]["seeds"]}
        if args.plot:
            raise ValueError(
                f"--plot {args.plot!r}: PATH {args.path!r} is a grid's store with {planned - finished.n} of its "
                f"{planned} networks still to train, and a grid's figure needs them all"
            ) from None
        if args.json:
            status = {"complete": False, "networks": planned, "finished": finished.n}
            print(json.dumps({"path": args.path, "result": kind, **made, **status}))
        else:
            momenta = "" if cells["momenta"] is None else f" x momenta {cells['momenta']}"
            print(
                f"grid store {args.path}: lrs {cells['lrs']}{momenta}, {made['seeds']} seeds per cell, lengths "
                f"{made['epochs']}\n{finished.n} of {planned} networks finished, {planned - finished.n} still to "
                f"train (incomplete: run the grid again with --store {args.path} to finish it)"
            )
        return 0
    if args.plot:
        from . import plot

        figures: dict[str, Any] = {
            "sweep": plot.sweep_summary,
            "grid": plot.grid_heatmap,
            "map": lambda m: _map_figure(m, args.what),
        }
        _save_figure(figures[kind](res), args.plot)
    if args.json:
        print(json.dumps({"path": args.path, "result": kind, **res.report()}))  # (a map's report has a "kind")
    else:
        print(f"{kind} {args.path}: {_summary(res)}")
    return 0


def _map_figure(res, what=None):
    """A map's figure: ``what`` (see ``plot.map_image``), by default epochs to tol where tracked."""
    from . import plot

    what = what or ("epochs_to_tol" if res.epochs_to_tol is not None and res.epochs else "converged")
    return plot.map_image(res, what)


def _run_info(args):
    from ._info import info

    report = info()
    if args.json:
        print(json.dumps(report))
    else:
        extras, gpu = report.pop("extras"), report.pop("gpu")
        report["fma"] = {True: "yes", None: "not known"}.get(
            report["fma"], "no: each FMA of the kernels is a library call, a sweep 20-35x slower (the same bits)"
        )
        for key, value in report.items():
            print(f"{key}: {value}")
        print("extras: " + ", ".join(f"{k} {'installed' if v else 'missing'}" for k, v in extras.items()))
        if gpu is None:
            print("gpu: none (the cuda extra is not installed)")
        elif gpu["usable"]:
            cc = f"compute capability {gpu['compute_capability']}, " if gpu["compute_capability"] else ""
            print(f"gpu: {gpu['name']} ({cc}numba-cuda {gpu['numba_cuda']})")
        else:
            print(f"gpu: none ({gpu['why']})")
    return 0


def _zoom(extent, zoom):
    """The extent [(lo0, hi0), (lo1, hi1)] narrowed by a factor F around (C0, C1)."""
    if zoom is None:
        return extent
    c0, c1, factor = zoom
    if not factor > 1:
        raise ValueError(f"--zoom: the factor must be > 1, got {factor!r}")
    out = []
    for (lo, hi), c in zip(extent, (c0, c1)):
        if not lo <= c <= hi:
            raise ValueError(f"--zoom: the centre {c!r} lies outside the map's span, from {lo!r} to {hi!r}")
        half = (hi - lo) / (2 * factor)
        if not c - half < c + half:
            raise ValueError(f"--zoom: a factor of {factor!r} leaves nothing of ({lo!r}, {hi!r}) around {c!r}")
        out.append((c - half, c + half))
    return out


def _lr_map_rates(args):
    """``map lr``'s two ranges of learning rates (of exponents without --linear), zoomed, checked."""
    if not args.linear:
        for flag, values in (("--lr", args.lr), ("--lr-output", args.lr_output)):
            if not values[0] < values[1]:  # here, in the exponents typed, not the rates made of them
                raise ValueError(f"{flag} must have LO < HI, got {values[0]:g} {values[1]:g}")
    rates = _zoom([tuple(args.lr), tuple(args.lr_output)], args.zoom)
    if not args.linear:
        # exponents whose rates the dtype holds at full precision (the API would name the rates)
        lo, hi = (-300, 300) if args.dtype == "float64" else (-37, 38)
        zoomed = " (after --zoom)" if args.zoom is not None else ""
        for flag, seen in (("--lr", rates[0]), ("--lr-output", rates[1])):
            if not all(lo <= v <= hi for v in seen):
                raise ValueError(
                    f"{flag} takes log10 of the learning rates, in [{lo}, {hi}] in {args.dtype}; "
                    f"got {seen[0]:g} {seen[1]:g}{zoomed}"
                )
    return rates


def _run_map(args):
    from .maps import init_map, lr_map

    if args.what == "epochs_to_tol" and not args.epochs_to_tol:
        raise ValueError("--what epochs_to_tol needs epochs to tol: drop --no-epochs-to-tol")
    if args.what == "epochs_to_tol" and args.epochs == 0:
        raise ValueError("--what epochs_to_tol needs epochs to search: --epochs 0 trains none")
    if args.what is not None and args.plot is None:
        raise ValueError(f"--what chooses what --plot draws; give --plot FILE too, or drop --what {args.what}")
    if args.map_kind == "init":
        ranges = _zoom([tuple(args.extent[:2]), tuple(args.extent[2:])], args.zoom)
    else:
        ranges = _lr_map_rates(args)
    _check_outputs(args)
    if args.base_params is not None:
        base = _load_starts(args.base_params, "--base-params", (N_PARAMS,))
    else:
        base = args.base
        if base < 0:
            raise ValueError(f"--base must be a seed >= 0, got {base}")
    X, y = _load_data(args)
    with _client(args) as client:
        common = dict(epochs=args.epochs, momentum=args.momentum, **_shared_options(args, client))
        if args.map_kind == "init":
            res = init_map(
                X, y, base, tuple(args.axes), ranges, tuple(args.resolution),
                lr=args.lr, lr_output=args.lr_output, **common,
            )  # fmt: skip
        else:
            (lo0, hi0), (lo1, hi1) = ranges
            if not args.linear:  # log10 exponents
                lo0, hi0, lo1, hi1 = (10.0**v for v in (lo0, hi0, lo1, hi1))
            res = lr_map(
                X, y, base, (lo0, hi0), (lo1, hi1), tuple(args.resolution),
                log=not args.linear, **common,
            )  # fmt: skip
    if args.out:
        res.save(args.out)
        print(f"result written to {args.out}", file=sys.stderr)
    if args.plot:
        _save_figure(_map_figure(res, args.what), args.plot)
    if args.json:
        print(json.dumps({"data": _data_name(args), **res.report()}))
    else:
        print(f"data {_data_name(args)}: " + _summary(res))
    return 0


_COMMANDS = {
    "train": _run_train,
    "sweep": _run_sweep,
    "grid": _run_grid,
    "map": _run_map,
    "merge": _run_merge,
    "show": _run_show,
    "info": _run_info,
}


#: The API's argument names as the command line spells them: these with dashes for underscores,
#: and the five after them otherwise.
_SPELLED_ALIKE = (
    "lr lr_output epochs seeds seed tol threads dtype device momentum margin activation init init_scale params0 "
    "axes extent resolution"
)
_FLAG_OF = {
    **{name: "--" + name.replace("_", "-") for name in _SPELLED_ALIKE.split()},
    "lr_output_extent": "--lr-output",
    "lr_extent": "--lr",
    "epochs_list": "--epochs",
    "momenta": "--momentum",
    "lrs": "--lr",
}
#: One of them as an error message uses it: "NAME must ...", "NAME holds ...", "NAME is ...",
#: "NAME=VALUE" (a number, a list, None, True, False or a quoted string), "NAME (LO, HI) ..." --
#: not a flag already ("--lr must"), nor part of a path or a quoted value
#: ("runs/lr_output=0.5/xor.csv", "'init_scale=2'"); the command's own paths are kept apart first.
_API_NAME = re.compile(
    r"(?<![-\w/\\.'\"])(" + "|".join(sorted(_FLAG_OF, key=len, reverse=True)) + r")"  # a name may begin another
    r"(?=( must | holds | is | \([-+\d])|=(?:[-+\d\[(]|None\b|True\b|False\b|')[^\s/\\]*(?:[\s,;)]|$))"
)
#: An argument named first, before a colon, as memory refusals name theirs ("seeds: 10^9 seeds would take ...").
_LEADING_NAME = re.compile(r"^(" + "|".join(sorted(_FLAG_OF, key=len, reverse=True)) + r")(?=: )")
#: A flag given a quoted word, as a renamed message has it ("--activation='tanh'").
_QUOTED_VALUE = re.compile(r"(?<![\w-])(--[a-z][\w-]*)='([\w.-]+)'")
#: The arguments that name files and folders: their text in a message is left as it is.
_PATHS = ("data", "out", "plot", "store", "params0", "base_params", "parts", "path")


def _in_flags(message, paths=()):
    """An API error message, each argument named by the flag that set it; ``paths`` (the command's
    files, which a message may quote unquoted: "lr=0.5.csv, line 3: ...") are left as they are."""
    # A path that is one word ("lr", "0", "s") needs no keeping: only argument names before "must",
    # "is", "=" ... are renamed, and a message quotes its paths. Kept, it would keep a name ("--store lr:
    # lr must ...") or a number ("--store 0") from its flag.
    kept = sorted({p for p in paths if p and not re.fullmatch(r"\w+", p)}, key=len, reverse=True)
    if kept:  # one pass each way: a path must not be found inside another's placeholder, nor in a word
        found = r"(?<!\w)(?:" + "|".join(map(re.escape, kept)) + r")(?!\w)"
        message = re.sub(found, lambda m: f"\0{kept.index(m.group())}\0", message)
    message = _API_NAME.sub(lambda m: _FLAG_OF[m.group(1)], message)
    message = _LEADING_NAME.sub(lambda m: _FLAG_OF[m.group(1)], message)
    message = _QUOTED_VALUE.sub(r"\1 \2", message)  # --device='cuda' as it is typed: --device cuda
    return re.sub("\0(\\d+)\0", lambda m: kept[int(m.group(1))], message)


def _paths_of(args):
    """The files and folders ``args`` names (``_PATHS``), as given and as a message may name them (their
    real paths, as a store's messages do, and their folders)."""
    values = [getattr(args, name, None) for name in _PATHS] if args is not None else []
    given = [str(p) for v in values for p in (v if isinstance(v, list) else [v]) if isinstance(p, str) and p]
    real = [os.path.realpath(p) for p in given]
    return given + real + [os.path.dirname(p) for p in given + real]  # (a missing folder is named alone)


def _interrupted(exc):
    """Whether ``exc`` is, or was caused by, a Ctrl-C (an import it cut short raises ImportError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastbackprop`` console script; returns the exit code."""
    args = None
    try:
        parser = _build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, or a bad option already reported (argparse exits with an int)
            return int(exc.code or 0)
        code: int = _COMMANDS[args.command](args)
        sys.stdout.flush()  # here, so that a closed pipe is reported as one
        return code
    except KeyboardInterrupt:
        return _report_interrupt(args)
    except BrokenPipeError:
        # The reader went away (| head): say nothing, and keep Python from
        # complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (
        ValueError,
        TypeError,
        ImportError,
        OSError,
        TimeoutError,
        ArithmeticError,  # a diverged training run, a number past float range
        MemoryError,
        RuntimeError,  # no usable GPU, a locked store, a Dask worker on another version
    ) as exc:
        if _interrupted(exc):  # an import Ctrl-C cut short: ImportError("initialization failed") from it
            return _report_interrupt(args)
        print(f"fastbackprop: error: {_in_flags(str(exc), _paths_of(args))}", file=sys.stderr)
        return 2


def _report_interrupt(args):
    store, chunks = getattr(args, "store", None), False
    if store:
        with contextlib.suppress(OSError):  # (a store that cannot be listed: nothing said of it)
            chunks = os.path.isdir(store) and any(n.startswith("chunk-") for n in os.listdir(store))
    kept = f"; finished chunks are kept in {store}" if chunks else ""
    print(f"fastbackprop: interrupted{kept}", file=sys.stderr)
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
