"""m2l2: a reproducible implementation of the Music2Latent2 audio autoencoder."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

__all__ = ["build", "load", "Music2Latent2", "ModelConfig", "M2L2Error", "__version__"]

from m2l2 import threads as _threads  # noqa: F401  (first: sets OpenMP's wait policy before torch loads)
from m2l2.autoencoder import Music2Latent2
from m2l2.config import ModelConfig, load_config
from m2l2.errors import M2L2Error, add_place, has_place


def build(config: str | Path | dict | ModelConfig = "paper", overrides: list[str] | tuple[str, ...] = ()) -> Music2Latent2:
    """An untrained model from a named configuration, a YAML file, a dict of model settings or a ModelConfig."""
    if isinstance(config, ModelConfig):
        cfg = config
    elif isinstance(config, dict):
        cfg = ModelConfig.from_dict(config.get("model", config))
    else:
        cfg = ModelConfig.from_dict(load_config(config, overrides)["model"])
    return Music2Latent2(cfg).eval()


def load(path: str | Path, device: str = "cpu", ema: bool = True) -> Music2Latent2:
    """A trained model from a checkpoint (safetensors + JSON sidecar); the EMA weights by default."""
    from m2l2.checkpoint import check_state, read_inference_weights, resolve_checkpoint

    path = Path(path)
    if not path.exists():
        raise M2L2Error(f"checkpoint not found ({path}): pass a step-*.json file or a training run folder")
    path = resolve_checkpoint(path)  # errors name the sidecar
    model_cfg, state = read_inference_weights(path, ema=ema)
    try:
        config = ModelConfig.from_dict(model_cfg)
    except M2L2Error as e:
        if has_place(str(e)):  # it names the option and what to do: add the file
            raise M2L2Error(add_place(str(e), f"sidecar {path}")) from None
        raise M2L2Error(f"invalid model configuration in the checkpoint sidecar, {e} ({path}): use the "
                        "sidecar saved with these weights") from None
    model = Music2Latent2(config)
    check_state(model.state_dict(), state, path)  # one line naming what does not fit, never a traceback
    model.load_state_dict(state)
    return model.to(device).eval()
