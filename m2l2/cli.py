"""The `m2l2` command line. Each area registers its own sub-commands, so the parts stay independent."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
import warnings

from m2l2.errors import M2L2Error

# The core's own commands; other installed packages add theirs through the entry-point group below (this
# project's `baselines` and `benchmarks` declare them in pyproject.toml), so the core names none of them.
CORE_COMMAND_MODULES = ["m2l2.commands", "m2l2.training.cli"]
COMMAND_GROUP = "m2l2.commands"


def command_modules() -> list[str]:
    """The core's command modules, then every installed plugin's, in entry-point name order."""
    from importlib.metadata import entry_points

    plugins = sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name)
    return [*CORE_COMMAND_MODULES, *(e.value for e in plugins if e.value not in CORE_COMMAND_MODULES)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m2l2", description="Music2Latent2 autoencoder and benchmark suite")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_modules():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and name.startswith(e.name):
                continue
            raise
        module.register(sub)
    _add_threads_option(parser)
    return parser


THREADS_HELP = (
    "threads for torch, BLAS and worker pools (default: $M2L2_THREADS, else $OMP_NUM_THREADS, else the CPUs "
    "this process may use: affinity mask and cgroup quota)"
)


def _add_threads_option(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """`--threads N` before the command and after any (sub-)command name, so both spellings work."""
    if "--threads" not in parser._option_string_actions:
        parser.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP,
                            default=None if top else argparse.SUPPRESS)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_threads_option(child, top=False)


def configure_logging(level: int = logging.INFO) -> None:
    """Library messages (the project's loggers only) as plain lines on stdout, beside the progress bars.
    They still propagate, so handlers set up by a caller (or pytest's caplog) see them too."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in sorted({"m2l2", *(m.split(".")[0] for m in command_modules())}):
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


def print_error(e: M2L2Error) -> None:
    """`m2l2: error: <what> (<where>): <what to do>` on stderr: one line per problem when the error lists
    several (`problems`), else the message (its first line prefixed)."""
    for problem in getattr(e, "problems", None) or [str(e)]:
        print(f"m2l2: error: {problem}", file=sys.stderr)


_OS_FIXES = {
    errno.ENOSPC: "free disk space (nothing was half-written) and rerun",
    errno.EDQUOT: "free disk space (nothing was half-written) and rerun",
    errno.EACCES: "make the folder writable or choose another path",
    errno.EPERM: "make the folder writable or choose another path",
    errno.EROFS: "choose a path on a writable file system",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path: a part of it is a file",
    errno.EISDIR: "give a file name, not a folder",
}


def os_error_message(e: OSError) -> str:
    """An OSError (permissions, full disk, missing folder) in the error convention."""
    where = e.filename if e.filename is not None else "?"
    fix = _OS_FIXES.get(e.errno, "check the path, its permissions and the free space")
    return f"{e.strerror or e} ({where}): {fix}"


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from m2l2 import threads

        threads.apply(args.threads)
        with warnings.catch_warnings():  # restores the caller's warning display on return
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except M2L2Error as e:
        print_error(e)
        return 2
    except OSError as e:  # an unwritable folder, a full disk: the machine's state, not a bug
        print_error(M2L2Error(os_error_message(e)))
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
