"""``tinyrnn``: one entry point, a subcommand per step, and ``all`` for the whole main job.

Exit codes: 0 done, 1 the step failed (one line ``tinyrnn: error: ...``), 2 usage error
(argparse), 130 interrupted (Ctrl-C: one line ``tinyrnn: interrupted: ...``). Each command
module registers its subcommands; nothing here imports TensorFlow, so ``tinyrnn report`` and
``--help`` stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tinyrnn import __version__
from tinyrnn.cli import aot, export, quantize, steps
from tinyrnn.convert.aot.errors import AotError
from tinyrnn.core.buildtree import BUILD_ENV, build_root
from tinyrnn.deploy import cli as device_cli
from tinyrnn.sweep import cli as sweep_cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The errors a step raises for a problem the user can fix (the message names it); anything else
# is a bug and keeps its traceback.
# 128 + SIGINT, as a shell reports a command stopped by Ctrl-C.
INTERRUPTED = 130
FAILURES = (FileNotFoundError, ValueError, RuntimeError, OSError, AotError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinyrnn", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--version", action="version", version=f"tinyrnn {__version__}")
    p.add_argument("--build", type=Path, default=build_root(),
                   help=f"build tree root (also ${BUILD_ENV}); firmware builds follow it too")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    steps.register(sub)
    quantize.register(sub)
    aot.register(sub)
    export.register(sub)
    device_cli.register(sub)
    sweep_cli.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # One build root for this command and its children (conversion jobs, PlatformIO builds);
    # put back afterwards, so an in-process caller's next command and build_root() are its own.
    previous = os.environ.get(BUILD_ENV)
    os.environ[BUILD_ENV] = str(args.build)
    try:
        return _run(args)
    finally:
        if previous is None:
            os.environ.pop(BUILD_ENV, None)
        else:
            os.environ[BUILD_ENV] = previous


def _run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from tinyrnn.core.locking import command_writes, hold_build_tree

    try:
        # One writer per build tree (tinyrnn/core/locking.py): a second process gets a clear error.
        lock = hold_build_tree(args.build, args.command) if command_writes(args.command) \
            else nullcontext()
        with lock:
            code = args.func(args)
    except FAILURES as e:
        print(f"tinyrnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C is not a bug: no traceback. Every artifact is written by rename
        # (core/buildtree.py), so what was finished is whole and a rerun finishes the rest.
        print(f"tinyrnn: interrupted: `tinyrnn {args.command}` stopped before it finished; "
              "finished artifacts are kept, rerun the command to complete it", file=sys.stderr)
        return INTERRUPTED
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
