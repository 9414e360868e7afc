"""Command line: ``fastbackprop train`` (also ``python -m fastbackprop``)."""

import argparse
import sys

from . import datasets
from .network import Network

#: Seed of ``fastbackprop train``: its log looks like the classic tutorial's
#: (loss 0.37 before training, 0.0003 after 3000 epochs; Emily 0.98, Frank 0.02).
DEFAULT_SEED = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser():
    parser = _Parser(
        prog="fastbackprop",
        description="A 2-2-1 sigmoid network trained by hand-derived backprop.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    train = sub.add_parser(
        "train",
        help="run the classic experiment",
        description=(
            "Train one network by per-sample SGD and print its loss log, then its "
            "predictions. 'Epoch k' is the full-dataset MSE after k epochs "
            "(Epoch 0: before training)."
        ),
        epilog="example: fastbackprop train --dataset xor --lr 0.5 --epochs 5000 --log-every 500",
    )
    train.add_argument("--seed", type=int, default=DEFAULT_SEED,
                       help=f"seed of the starting parameters (default {DEFAULT_SEED})")
    train.add_argument("--epochs", type=int, default=3000, help="passes over the data (default 3000)")
    train.add_argument("--lr", type=float, default=0.2, help="learning rate (default 0.2)")
    train.add_argument("--dataset", choices=sorted(datasets.DATASETS), default="gender",
                       help="training data (default gender)")
    train.add_argument("--log-every", type=int, default=1000, metavar="N",
                       help="print the loss every N epochs (default 1000)")
    return parser


def _run_train(args):
    if args.log_every < 1:
        raise ValueError(f"--log-every must be >= 1, got {args.log_every}")
    X, y = datasets.load(args.dataset)
    net = Network(seed=args.seed)
    initial = net.loss(X, y)
    history = net.train(X, y, epochs=args.epochs, lr=args.lr)
    print(f"Epoch 0: loss {initial:.4f}")
    for k in range(args.log_every, args.epochs + 1, args.log_every):
        print(f"Epoch {k}: loss {history[k - 1]:.4f}")
    if args.epochs % args.log_every:
        print(f"Epoch {args.epochs}: loss {history[-1]:.4f}")
    if args.dataset == "gender":
        for name, (x, label) in datasets.gender_queries().items():
            print(f"{name}: {net.feedforward(x):.3f} ({'F' if label else 'M'} expected)")
    else:
        for x, target in zip(X, y):
            print(f"x = ({x[0]:g}, {x[1]:g}): {net.feedforward(x):.3f} (target {target:g})")
    return 0


def main(argv=None):
    """Entry point of the ``fastbackprop`` console script; returns the exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad option already reported
        return exc.code
    try:
        return _run_train(args)
    except (ValueError, TypeError) as exc:
        print(f"fastbackprop: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
