"""The training runs' held-out reconstruction probe on saved weights: the numbers a run logs, for any checkpoint.

    python tools/probe_checkpoint.py OUT.json NAME=CHECKPOINT [NAME=CHECKPOINT ...] [--dev DIR] [--clips 14]

Scores each checkpoint (a .json sidecar, .safetensors or run folder) with `ReconstructionProbe` on `--clips`
clips of the dev split (the middle 6 s, as the runs' `train.recon_*` settings take them) and writes
{NAME: {metric: value}} with the commit, date and package versions beside it. Runs on one thread.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="JSON file to write")
    p.add_argument("checkpoints", nargs="+", metavar="NAME=CHECKPOINT", help="what to score, under which name")
    p.add_argument("--dev", type=Path, default=Path.home() / ".cache/m2l2/gates/dev",
                   help="probe clips (default: the dev split of tools/training_gates.py split)")
    p.add_argument("--clips", type=int, default=14, help="clips spread over the folder (default: 14)")
    p.add_argument("--seconds", type=float, default=6.0, help="excerpt from each clip's middle (default: 6)")
    args = p.parse_args(argv)
    pairs = [c.split("=", 1) for c in args.checkpoints]
    if any(len(pair) != 2 for pair in pairs):
        p.error("give each checkpoint as NAME=PATH, e.g. start=results/checkpoints/tiny-ordered")

    import torch

    import m2l2
    from benchmarks.provenance import run_provenance
    from m2l2.training.recon import ReconstructionProbe

    torch.set_num_threads(1)
    scores = {}
    for name, path in pairs:
        model = m2l2.load(path).eval()
        probe = ReconstructionProbe.from_folders([str(args.dev)], args.clips, args.seconds, model.channels)
        scores[name] = {"checkpoint": path, **probe.evaluate(model)}
        print(name, json.dumps({k: round(v, 4) for k, v in scores[name].items() if k != "checkpoint"}), flush=True)
    args.out.write_text(json.dumps({"provenance": run_provenance({}), "probe": {"clips": args.clips, "seconds": args.seconds},
                                    "scores": scores}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
