"""Peak memory (RSS) of encoding, of encode + decode in Python, and of `m2l2 reconstruct` on a file, against
the input's length.

`python scripts/encode_memory.py [--config tiny] [--minutes 1 10 60] [--rate 8000] [--decode | --cli]`

Each measurement runs in a fresh process (its peak RSS from `resource.getrusage` of the child, so one length
cannot inherit another's allocations), on silence at `--rate` Hz (resampled to 44.1 kHz by the model, as any
input), random weights (memory does not depend on them). Prints the peak RSS beside the size of the 44.1 kHz
input itself (4 bytes per sample) and, with `--decode`, of the decoded output. `--cli` writes the input as a
FLAC file (block by block) and runs `m2l2 reconstruct` on it, which reads, decodes and writes in blocks.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = """
import sys, torch, numpy as np, m2l2
torch.manual_seed(0)
model = m2l2.build(sys.argv[1]).eval()
audio = np.zeros((1, int(float(sys.argv[2]) * 60 * int(sys.argv[3]))), dtype=np.float32)
latents = model.encode(audio, int(sys.argv[3]))
if sys.argv[4] == "1":
    wave = model.decode(latents, generator=torch.Generator().manual_seed(0))
print(tuple(latents.shape))
"""


def measure(config: str, minutes: float, rate: int, decode: bool) -> tuple[float, float, str]:
    """(peak RSS MiB, wall s, latent shape) of one child process."""
    return _child([sys.executable, "-c", CHILD, config, str(minutes), str(rate), str(int(decode))])


def measure_cli(config: str, minutes: float, rate: int) -> tuple[float, float, str]:
    """(peak RSS MiB, wall s, output frames) of `m2l2 reconstruct` on a FLAC file of silence."""
    from m2l2.audio import write_blocks

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.flac", Path(tmp) / "out.flac"
        total, block = int(minutes * 60 * rate), 1 << 18
        write_blocks(src, (np.zeros((1, min(block, total - i)), np.float32) for i in range(0, total, block)), rate, 1)
        peak, wall, _ = _child([sys.executable, "-m", "m2l2.cli", "--threads", "1", "reconstruct", str(src), str(out),
                                "--untrained", config])
        return peak, wall, f"{sf.info(str(out)).frames} frames written"


def _child(cmd: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    return peak_kib / 1024, wall, out.stdout.strip().splitlines()[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny")
    p.add_argument("--minutes", type=float, nargs="*", default=[1.0, 10.0, 60.0])
    p.add_argument("--rate", type=int, default=8000, help="sample rate of the input (resampled to 44.1 kHz)")
    p.add_argument("--decode", action="store_true", help="also decode the latents (the output is in memory)")
    p.add_argument("--cli", action="store_true", help="`m2l2 reconstruct` on a file (streams input and output)")
    args = p.parse_args()
    what = "m2l2 reconstruct (file)" if args.cli else "encode + decode" if args.decode else "encode"
    print(f"config {args.config}, input {args.rate} Hz mono silence, {what}")
    print(f"{'minutes':>8s} {'peak RSS MiB':>13s} {'44.1k input MiB':>16s} {'wall s':>8s}  latents")
    for minutes in sorted(args.minutes):  # ascending: ru_maxrss of children is a running maximum
        if args.cli:
            peak, wall, shape = measure_cli(args.config, minutes, args.rate)
        else:
            peak, wall, shape = measure(args.config, minutes, args.rate, args.decode)
        input_mib = minutes * 60 * 44_100 * 4 / 2**20
        print(f"{minutes:8g} {peak:13.0f} {input_mib:16.0f} {wall:8.1f}  {shape}", flush=True)


if __name__ == "__main__":
    main()
