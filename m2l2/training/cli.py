"""`m2l2 train CONFIG_OR_NAME [--set key=value ...] [--run-dir DIR] [--resume]`.

Multi-GPU: `torchrun --nproc_per_node N -m m2l2.cli train ...` (DDP; the global batch is split).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from m2l2.errors import M2L2Error


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model with consistency training (resumable; torchrun for DDP)",
        description="Train Music2Latent2 from a named configuration or a YAML file. Overrides use dotted "
        "keys: --set train.lr=3e-4 model.dim=128 train.data=/data/music:1,/data/speech:1",
    )
    p.add_argument(
        "config", metavar="CONFIG_OR_NAME", help="named configuration (tiny, paper, ...) or YAML path"
    )
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="configuration overrides, e.g. train.lr=3e-4 train.data=/data/music (unknown keys are errors)")
    p.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/<config>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="with --resume: continue although training settings differ from the checkpoint's (e.g. a longer "
        "train.total_steps); without it such a resume is refused. The model configuration must match",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="start a new run from the weights of a checkpoint (e.g. an exported one): its EMA weights "
        "become the live and EMA weights; the run starts at step 0 with a fresh optimizer, LR warm-up, "
        "Δt schedule and EMA warm-up",
    )
    p.add_argument(
        "--max-steps", type=int, default=None, help="stop after this step without changing the LR schedule"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import m2l2
    from m2l2.config import load_config
    from m2l2.training.config import TrainConfig
    from m2l2.training.ddp import cleanup, init_distributed
    from m2l2.training.trainer import Trainer

    cfg = load_config(args.config, args.overrides)
    train_cfg = TrainConfig.from_dict(cfg.get("train"))
    if not train_cfg.data:
        raise M2L2Error(
            f"no training data ({args.config}: train.data): set train.data in the YAML (a list of "
            "{path, weight}) or pass --set train.data=/path/to/folder[:weight],/other/folder[:weight]"
        )
    run_dir = args.run_dir
    if run_dir is None:
        if args.resume:
            raise M2L2Error(
                "--resume without a run folder (--run-dir): pass --run-dir, the folder of the run to "
                "continue"
            )
        run_dir = Path("runs") / f"{Path(str(args.config)).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    dist = init_distributed(train_cfg.device)
    try:
        import torch

        torch.manual_seed(train_cfg.seed)  # the same initial weights on every rank (DDP also broadcasts)
        model = m2l2.build(cfg["model"])
        model_cfg = model.config.to_dict() if hasattr(model.config, "to_dict") else dict(cfg["model"])
        trainer = Trainer(model, train_cfg, run_dir, config={"model": model_cfg}, dist=dist)
        trainer.allow_config_change = args.allow_config_change
        if args.init_from is not None:
            if args.resume:
                raise M2L2Error(
                    "both --resume and --init-from given (--resume, --init-from): give either --resume "
                    "(same run) or --init-from (new run from weights)"
                )
            trainer.init_from(args.init_from)
        if dist.is_main:
            n = sum(p.numel() for p in model.parameters())
            print(
                f"training {args.config}: {n / 1e6:.2f} M parameters, run folder {run_dir}, device {dist.device}"
            )
        trainer.fit(resume=args.resume, until_step=args.max_steps)
        if dist.is_main:
            print(f"done at step {trainer.step}; checkpoints in {trainer.ckpt_dir}")
    finally:
        cleanup(dist)
    return 0
