"""Speed benchmark script: `python benchmarks/speed.py [--config paper] [--seconds 10 60] [--device cuda]`.

Prints encode/decode real-time factors and peak memory of Music2Latent2 (random weights) and upstream
Music2Latent on the same machine in the same run. Same as `m2l2 speed`.
"""

import sys

from m2l2.cli import main

if __name__ == "__main__":
    sys.exit(main(["speed", *sys.argv[1:]]))
