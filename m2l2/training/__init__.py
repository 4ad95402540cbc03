"""Consistency training for Music2Latent2: configuration, data, the training loop, DDP and the CLI.

Importing this package stays cheap; import the submodules you need (`m2l2.training.trainer`, ...).
"""

from m2l2.training.config import DataFolder, TrainConfig

__all__ = ["DataFolder", "TrainConfig"]
