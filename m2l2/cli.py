"""The `m2l2` command line. Each area registers its own sub-commands, so the parts stay independent."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from m2l2.errors import M2L2Error

# Modules exposing `register(subparsers)`. A module that is not installed is skipped.
COMMAND_MODULES = [
    "m2l2.commands",
    "m2l2.weights",
    "m2l2.training.cli",
    "baselines.cli",
    "benchmarks.metrics.cli",
    "benchmarks.suite.cli",
    "benchmarks.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m2l2", description="Music2Latent2 autoencoder and benchmark suite")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and name.startswith(e.name):
                continue
            raise
        module.register(sub)
    return parser


def configure_logging(level: int = logging.INFO) -> None:
    """Library messages (the project's loggers only) as plain lines on stdout, beside the progress bars.
    They still propagate, so handlers set up by a caller (or pytest's caplog) see them too."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("m2l2", "baselines", "benchmarks"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings about the user's input as one `warning:` line; others in Python's usual form."""
    from m2l2.audio import AudioWarning

    if issubclass(category, AudioWarning):
        print(f"warning: {message}", file=file or sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():  # restores the caller's warning display on return
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except M2L2Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
