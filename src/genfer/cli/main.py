"""``genfer``: one command, one small module per subcommand (parse -> call the library)."""

from __future__ import annotations

import argparse
import importlib
import sys

from genfer import __version__

# subcommand modules, in the order `genfer --help` lists them
SUBCOMMANDS = (
    "demo", "synth", "prepare", "train", "eval", "recognize", "transfer", "edit", "metrics", "weights", "ls",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genfer",
        description="Generative facial expression analysis: train, evaluate and apply TDGAN and friends.",
        epilog="Run 'genfer COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"genfer {__version__}")
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
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        # library errors carry the file and the problem; show them without a traceback
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"genfer {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
