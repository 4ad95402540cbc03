"""Built-in adapters. Importing this package registers their weights files (cheap: optional packages load lazily)."""

from baselines.adapters import (  # noqa: F401
    codecs,
    codicodec,
    dac,
    encodec,
    latmusic,
    mousai,
    music2latent,
    music2latent2,
    musika,
    same,
    stable_audio,
)
