"""``genfer``: one command, one small module per subcommand (parse -> call the library)."""

from __future__ import annotations

import argparse
import importlib
import json
import pickle
import sys
import traceback
import warnings

from genfer import __version__
from genfer.core.errors import GenferError, GenferWarning

# subcommand modules, in the order `genfer --help` lists them
SUBCOMMANDS = (
    "demo", "synth", "prepare", "train", "eval", "recognize", "transfer", "swap", "edit", "reconstruct", "invert",
    "generate", "project", "convert", "metrics", "weights", "ls",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genfer",
        description="Generative facial expression analysis: train, evaluate and apply TDGAN and friends.",
        epilog="Run 'genfer COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"genfer {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of every error (may also follow the command's options)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"genfer.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"genfer.cli.{name}":
                continue  # subcommand not shipped in this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:  # accepted anywhere, as users add it to a failing command line
        argv = ["--debug", *(a for a in argv if a != "--debug")]
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may follow options (argparse only collects positionals before them)
    if extra and hasattr(args, "overrides") and all("=" in x and not x.startswith("-") for x in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("always", GenferWarning)
        warnings.showwarning = _warning_printer(args.command)
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt as e:  # a run that saved before stopping says how to go on
            print(f"genfer {args.command}: interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
            return 130
        except EXPECTED as e:
            return _report(args, e)
        except Exception as e:  # a bug: keep the traceback, and say it is one
            traceback.print_exc()
            print(f"genfer {args.command}: internal error ({type(e).__name__}: {e}); this is a bug in genfer, "
                  "please report it with the traceback above", file=sys.stderr)
            return 1


# failures the user can act on; anything else is a bug and keeps its traceback
EXPECTED = (GenferError, ValueError, KeyError, OSError, RuntimeError, pickle.UnpicklingError)


def error_message(e: BaseException) -> str:
    """One line for an expected failure: the file or field, the problem and, where known, the fix."""
    if isinstance(e, GenferError):
        return str(e)
    if "weights_only" in str(e):  # torch.load's advice to turn off safe loading would let a file run code
        detail = next((ln.strip().rstrip(".") for ln in str(e).splitlines()
                       if "unsupported GLOBAL" in ln or "WeightsUnpickler error" in ln), "")
        return ("a checkpoint file holds something other than tensors and plain values, so it was not loaded"
                + (f" ({detail})" if detail else "") + "; it is corrupt or was not written by genfer: restore it "
                "from a copy or resume from another checkpoint (run with --debug to see which file)")
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        where = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 is not None else "")
        fix = OS_FIXES.get(type(e), "")
        return f"{where}: {e.strerror}{fix}"
    return str(e) or type(e).__name__


OS_FIXES = {
    PermissionError: "; check its permissions or choose another path",
    IsADirectoryError: "; a file was expected here",
    NotADirectoryError: "; a folder was expected here (a file is in the way)",
    FileNotFoundError: "; check the path",
}


def _report(args: argparse.Namespace, e: BaseException) -> int:
    if args.debug:
        traceback.print_exc()
    partial = getattr(e, "partial", None)
    if partial is not None:  # results computed before the failure: keep them
        print(json.dumps(partial, indent=2, ensure_ascii=False))
    print(f"genfer {args.command}: error: {error_message(e)}", file=sys.stderr)
    return int(getattr(e, "exit_code", 1))


def _warning_printer(command: str):
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GenferWarning):
            print(f"genfer {command}: warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    return show


if __name__ == "__main__":
    sys.exit(main())
