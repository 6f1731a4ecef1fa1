"""``genfer train METHOD [KEY=VALUE ...]``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a method",
        description="Train a method. Without --data it trains on SynthFace, rendered on the fly. "
        "Settings come from the method's defaults (the paper's), then --config, then KEY=VALUE overrides "
        "such as data.batch_size=16 optim.lr=2e-4 model.image_size=64 train.max_steps=1000.",
    )
    p.add_argument("method", help="method name (see 'genfer ls methods'), e.g. tdgan")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides")
    p.add_argument("--config", metavar="PRESET|FILE",
                   help="a preset shipped with genfer (e.g. tiny, demo; see 'genfer ls presets') or a YAML file")
    p.add_argument("--data", metavar="READER:PATH",
                   help="expression-labelled data, e.g. rafdb:/data/RAF-DB/basic (default: synthface)")
    p.add_argument("--faces", metavar="READER:PATH",
                   help="identity-labelled faces for two-branch methods, e.g. casia:/data/CASIA-WebFace "
                   "(default: synthface)")
    p.add_argument("--out", metavar="DIR", help="parent directory of run directories (default: runs)")
    p.add_argument("--name", help="run directory name (default: METHOD-TIMESTAMP)")
    p.add_argument("--resume", metavar="RUN",
                   help="continue the run in RUN from its latest checkpoint, with its saved config; KEY=VALUE "
                   "overrides may change only how long it runs and how it logs, evaluates and saves "
                   "(train.max_steps, train.epochs, train.max_minutes, train.*_every, ...)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config as YAML and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genfer.core.config import make_config
    from genfer.core.errors import UsageError
    from genfer.core.paths import check_writable
    from genfer.engine.distributed import shutdown
    from genfer.engine.trainer import train

    overrides = list(args.overrides)
    for flag, key in ((args.data, "data.expressions"), (args.faces, "data.faces"),
                      (args.out, "train.out"), (args.name, "train.name")):
        if flag:
            overrides.append(f"{key}={flag}")
    if args.resume:
        from genfer.engine.resume import resume_config

        if args.config:
            raise UsageError("--config does not apply with --resume: the run goes on with its saved config",
                             fix="leave --config out (KEY=VALUE overrides such as train.max_steps=N can change "
                             "how long it runs)")
        # before anything is read: a resumed run must be able to write its checkpoints
        check_writable(args.resume, folder=True, option="--resume")
        cfg = resume_config(args.resume, args.method, overrides)  # refuses changes that cannot apply
    else:
        cfg = make_config(args.method, args.config, overrides)
    if args.dry_run:
        print(cfg.to_yaml(), end="")
        return 0
    # before any data is loaded: a run must be able to write its checkpoints
    if not args.resume:
        check_writable(cfg.train.out, folder=True, option="--out")
    try:
        run_dir = train(cfg, resume=args.resume, overrides=overrides) if args.resume else train(cfg)
    finally:
        # under torchrun: close the process group before the interpreter exits, or a rank can abort
        # in the communicator's teardown ("terminate called without an active exception")
        shutdown()
    print(f"run directory: {run_dir}")
    return 0
