"""The consistency-training loop: RAdam, warm-up + cosine LR, EMA, clipping, autocast, DDP, resume.

A run is a pure function of (config, seed, step): micro-batch k of the data stream and the torch RNG
used by the loss at step s are both derived from the seed, so resuming from a checkpoint at step s
continues exactly as if the run had not stopped (same weights on CPU, same LR, same data).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from m2l2.checkpoint import (
    RESTORE,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from m2l2.errors import M2L2Error
from m2l2.training.config import TrainConfig
from m2l2.training.data import AudioCropDataset, fixed_batches
from m2l2.training.ddp import DistInfo, all_reduce_mean
from m2l2.training.run_folder import RunFolder

log = logging.getLogger(__name__)

# loss_fn(model, audio [B, C, N], step, total_steps) -> (scalar loss, {name: float})
LossFn = Callable[[nn.Module, torch.Tensor, int, int], tuple[torch.Tensor, dict[str, float]]]
VAL_SEED_OFFSET = 7_919  # validation crops and noise use their own seed, never the training stream's


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warm-up to `lr`, then cosine to `lr_final`."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.total_steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1.0 + math.cos(math.pi * progress))


def step_seed(seed: int, rank: int, step: int) -> int:
    """Seed of the torch RNG for one optimizer step on one rank (noise levels, noise, dropout)."""
    # Shift the Python int: NumPy 1.x has no `np.uint64 >> int` (its type promotion gives no common type).
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0]) >> 1


def _same_model(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal model configurations, whichever version wrote them (retired options dropped)."""
    from m2l2.config import ModelConfig

    return ModelConfig.normalise(a) == ModelConfig.normalise(b)


# Training settings that say how a run is watched, saved or placed, not what it learns: free to change on resume.
OPERATIONAL_SETTINGS = frozenset({
    "checkpoint_every", "checkpoint_minutes", "keep_last", "log_every", "num_workers", "progress", "device",
    "compile", "val_data", "val_every", "val_batches", "recon_every", "recon_data", "recon_clips",
    "recon_seconds", "max_bad_steps", "find_unused_parameters",
})


def train_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """'key: old → new' for every training setting that differs and changes what the run learns. A setting
    the checkpoint does not record (added to m2l2 after it was written) counts at its default; one that
    m2l2 no longer has (retired) is not compared."""
    defaults = TrainConfig.from_dict({}).to_dict()
    saved, current = json.loads(json.dumps({**defaults, **saved})), json.loads(json.dumps(current))
    keys = sorted(set(current) - OPERATIONAL_SETTINGS)
    return [f"train.{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


class EMA:
    """Exponential moving average of the model's floating-point state, updated once per optimizer
    step (not per micro-step). Keys match `model.state_dict()`, so the EMA loads as a model."""

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        self.decay = decay
        self.warmup = warmup
        state = model.state_dict()
        self.names = [k for k, v in state.items() if v.is_floating_point()]
        self.shadow = {k: v.detach().clone() for k, v in state.items()}

    def decay_at(self, updates: int) -> float:
        """Decay of the `updates`-th update (1-based). With warm-up, min(decay, (1 + n) / (10 + n)) as
        upstream Music2Latent: without it a short run's EMA is mostly its random initialisation
        (0.999¹⁰⁰⁰ = 37 % of the weight after 1,000 steps)."""
        return min(self.decay, (1 + updates) / (10 + updates)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module, updates: int | None = None) -> None:
        """Move the shadow towards `model`; `updates` counts this update (the optimizer step, 1-based)."""
        decay = self.decay if updates is None else self.decay_at(updates)
        state = model.state_dict()
        live = [state[k].detach() for k in self.names]
        shadow = [self.shadow[k] for k in self.names]
        torch._foreach_lerp_(shadow, live, 1.0 - decay)
        for k, v in state.items():
            if k not in self.names:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor], source: str | Path = "EMA state") -> None:
        """Load the averaged weights; `source` (the checkpoint) is what an error names."""
        missing = set(self.shadow) - set(state)
        if missing:
            raise M2L2Error(
                f"the EMA weights lack {len(missing)} entries, e.g. {', '.join(sorted(missing)[:3])} "
                f"({source}): {RESTORE}"
            )
        for k, v in self.shadow.items():
            v.copy_(state[k])

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Temporarily put the EMA weights into `model` (for validation), restoring them afterwards."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(backup)


class _LossModule(nn.Module):
    """Runs the loss inside forward(), so DDP sees a forward pass and synchronises the gradients."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, audio: torch.Tensor, step: int, total_steps: int):
        return self.loss_fn(self.model, audio, step, total_steps)


def default_loss_fn(cfg: TrainConfig) -> LossFn:
    """Music2Latent2's consistency loss with the run's Δt schedule and magnitude-head weight."""
    from m2l2.consistency import training_loss

    return functools.partial(
        training_loss,
        objective=cfg.objective(),
        magnitude_weight=cfg.magnitude_weight,
        output_magnitude_weight=cfg.output_magnitude_weight,
        detach_cross=cfg.detach_cross,
    )


def default_crop_samples(model: nn.Module) -> int:
    """The model's training length (two chunks + 3 hops), read from the model."""
    for owner in (model, getattr(model, "config", None)):
        value = getattr(owner, "train_samples", None)
        if isinstance(value, int):
            return value
    raise M2L2Error("the model does not say its training length (train.crop_samples): set train.crop_samples")


class Trainer:
    """Owns the optimizer, EMA, data loader and run directory of one training run."""

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        run_dir: str | Path,
        *,
        config: dict[str, Any] | None = None,
        loss_fn: LossFn | None = None,
        dist: DistInfo | None = None,
        channels: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.dist = dist or DistInfo()
        self.device = self.dist.device
        self.folder = RunFolder(run_dir)
        self.run_dir, self.ckpt_dir, self.log_path = self.folder.path, self.folder.checkpoints, self.folder.log_path
        self.config = {"model": {}, **(config or {}), "train": cfg.to_dict()}
        self.channels = int(channels or getattr(model, "channels", 1))
        self.crop_samples = cfg.crop_samples or default_crop_samples(model)
        self.micro_batch = cfg.micro_batch(self.dist.world_size)
        if cfg.precision == "fp16" and self.device.type != "cuda":
            raise M2L2Error(
                f"train.precision=fp16 needs a GPU, the device is {self.device} (train.precision): use bf16 "
                "or fp32 on the CPU"
            )
        self.model = model.to(self.device)
        if cfg.compile:
            for child in self.model.children():
                child.compile()
        self.loss_module: nn.Module = _LossModule(self.model, loss_fn or default_loss_fn(cfg))
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.loss_module = DistributedDataParallel(
                self.loss_module, device_ids=ids, find_unused_parameters=cfg.find_unused_parameters
            )  # broadcasts rank 0's weights, so every rank starts equal
        optimizer_class = {"radam": torch.optim.RAdam, "adam": torch.optim.Adam}[cfg.optimizer]
        self.optimizer = optimizer_class(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=cfg.lr,
            betas=cfg.betas,
            eps=cfg.eps,
            weight_decay=cfg.weight_decay,
        )
        self.scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
        self.ema = EMA(self.model, cfg.ema_decay, cfg.ema_warmup)
        self.step = 0
        self.bad_steps = 0  # consecutive non-finite steps
        self.skipped_total = 0
        self._val_batches: list[torch.Tensor] | None = None
        self._probe = None  # ReconstructionProbe, built on first use

    # --- checkpoints -----------------------------------------------------------------------------

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (main process only; the others return None)."""
        if not self.dist.is_main:
            return None
        extra = {
            "lr": lr_at(max(self.step - 1, 0), self.cfg),
            "skipped_steps": self.skipped_total,
            "data": {
                "seed": self.cfg.seed,
                "micro_batches_per_rank": self.step * self.cfg.grad_accum,
                "world_size": self.dist.world_size,
            },
            "rng": capture_rng_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }
        return save_checkpoint(
            self.ckpt_dir,
            self.step,
            self.model.state_dict(),
            config=self.config,
            ema=self.ema.state_dict(),
            optimizer=self.optimizer.state_dict(),
            extra=extra,
            keep_last=self.cfg.keep_last,
        )

    # `m2l2 train --allow-config-change`: resume although training settings differ from the checkpoint's
    allow_config_change: bool = False

    def resume(self, path: str | Path | None = None) -> int:
        """Load the newest checkpoint of the run (or `path`) and continue from its step. A changed model
        configuration is refused; changed training settings too, unless `allow_config_change` (the
        settings that only say how the run is watched or saved may change freely)."""
        ckpt = load_checkpoint(path or self.ckpt_dir)
        saved_model = ckpt.config.get("model", {})
        if saved_model and self.config.get("model") and not _same_model(saved_model, self.config["model"]):
            raise M2L2Error(
                f"the run was trained with another model configuration ({ckpt.path}): resume with the same one"
            )
        changed = train_changes(ckpt.config.get("train") or {}, self.config.get("train") or {})
        if changed and not self.allow_config_change:
            raise M2L2Error(
                f"training settings differ from the checkpoint's: {'; '.join(changed)} ({ckpt.path}): resume "
                "with the same settings, or pass --allow-config-change to continue with the new ones"
            )
        if changed:
            log.warning("resuming with changed training settings: %s", "; ".join(changed))
        from m2l2.checkpoint import check_state

        check_state(self.model.state_dict(), ckpt.model, ckpt.path)
        self.model.load_state_dict(ckpt.model)
        if ckpt.ema is not None:
            self.ema.load_state_dict(ckpt.ema, ckpt.path)
        if ckpt.optimizer is not None:
            self.optimizer.load_state_dict(ckpt.optimizer)
        if self.scaler is not None and ckpt.extra.get("scaler"):
            self.scaler.load_state_dict(ckpt.extra["scaler"])
        if ckpt.extra.get("rng"):
            restore_rng_state(ckpt.extra["rng"])
        self.skipped_total = int(ckpt.extra.get("skipped_steps", 0))
        self.step = ckpt.step
        if self.dist.is_main:
            self.folder.truncate_log(self.step)
        return self.step

    def init_from(self, path: str | Path) -> int:
        """Start a new run from the inference weights of a checkpoint (EMA where it has them): step 0, a
        fresh optimizer, LR warm-up, Δt schedule and EMA warm-up. The EMA warm-up matters: continuing the
        parent's decay (0.999 after 5,000 steps) kept 42 % of the starting weights in the EMA after 500
        steps and hid what the new run did. The parent is recorded in the run's config.json."""
        from m2l2.checkpoint import read_inference_weights, resolve_checkpoint

        json_path = resolve_checkpoint(path)
        model_cfg, state = read_inference_weights(json_path)
        if self.config.get("model") and not _same_model(model_cfg, self.config["model"]):
            raise M2L2Error(
                f"the checkpoint holds another model configuration ({json_path}): train with the same one"
            )
        self.model.load_state_dict(state)
        self.ema = EMA(self.model, self.cfg.ema_decay, self.cfg.ema_warmup)
        parent_step = int(json.loads(json_path.read_text())["step"])
        self.config["init_from"] = {"checkpoint": str(json_path), "step": parent_step}
        self.step = 0
        return self.step

    # --- data ------------------------------------------------------------------------------------

    def _loader(self) -> DataLoader:
        ds = AudioCropDataset(
            self.cfg.data,
            crop_samples=self.crop_samples,
            batch_size=self.micro_batch,
            channels=self.channels,
            seed=self.cfg.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            start=self.step * self.cfg.grad_accum,
            rms_threshold=self.cfg.rms_threshold,
            max_quiet_retries=self.cfg.max_quiet_retries,
        )
        workers = self.cfg.num_workers
        return DataLoader(
            ds,
            batch_size=None,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers > 0 else None,
            persistent_workers=False,
        )

    # --- one step --------------------------------------------------------------------------------

    def _autocast(self):
        if self.cfg.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _seed_step(self) -> None:
        seed = step_seed(self.cfg.seed, self.dist.rank, self.step)
        torch.manual_seed(seed)  # also seeds every CUDA device

    def train_step(self, batches: Iterator[torch.Tensor]) -> dict[str, float]:
        """One optimizer step over `grad_accum` micro-batches; returns its loss and metrics."""
        cfg = self.cfg
        lr = lr_at(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._seed_step()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss_module.train()
        loss_sum = torch.zeros((), device=self.device)
        metrics: dict[str, float] = {}
        for micro in range(cfg.grad_accum):
            audio = next(batches).to(self.device, non_blocking=True)
            last = micro == cfg.grad_accum - 1
            sync = (
                contextlib.nullcontext() if last or not self.dist.distributed else self.loss_module.no_sync()
            )
            with sync:
                with self._autocast():
                    loss, m = self.loss_module(audio, self.step, cfg.total_steps)
                scaled = loss.float() / cfg.grad_accum  # the mean over micro-batches, not their sum
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            loss_sum += loss.detach().float()
            for k, v in m.items():
                metrics[k] = metrics.get(k, 0.0) + float(v) / cfg.grad_accum
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        # After DDP's all-reduce every rank holds the same gradients, so every rank takes the same branch.
        finite = bool(torch.isfinite(norm))
        if finite:
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
            else:
                self.optimizer.step()
            self.ema.update(self.model, self.step + 1)
            self.bad_steps = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.bad_steps += 1
            self.skipped_total += 1
            if self.bad_steps > cfg.max_bad_steps:
                raise M2L2Error(
                    f"{self.bad_steps} optimizer steps in a row had non-finite gradients ({self.run_dir}, "
                    f"step {self.step}): lower train.lr, use train.precision=bf16/fp32, or resume from an "
                    "earlier checkpoint"
                )
        if self.scaler is not None:
            self.scaler.update()
        self.step += 1
        return {
            **metrics,
            "loss": loss_sum / cfg.grad_accum,
            "grad_norm": norm.detach(),
            "lr": lr,
            "skipped": not finite,
        }

    # --- validation ------------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss on fixed held-out crops with fixed noise, for the live and the EMA weights."""
        if not self.cfg.val_data:
            return {}
        if self._val_batches is None:
            self._val_batches = fixed_batches(
                self.cfg.val_data,
                crop_samples=self.crop_samples,
                batch_size=self.micro_batch,
                count=self.cfg.val_batches,
                channels=self.channels,
                seed=self.cfg.seed + VAL_SEED_OFFSET,
                rms_threshold=self.cfg.rms_threshold,
            )
        loss_fn = self.loss_module.module.loss_fn if self.dist.distributed else self.loss_module.loss_fn
        out = {}
        was_training = self.model.training
        self.model.eval()
        devices = [self.device.index] if self.device.type == "cuda" else []
        for tag, ctx in (
            ("val_loss", contextlib.nullcontext()),
            ("val_loss_ema", self.ema.applied(self.model)),
        ):
            with ctx, torch.random.fork_rng(devices=devices):  # leaves the training RNG untouched
                torch.manual_seed(self.cfg.seed + VAL_SEED_OFFSET)
                losses = []
                for batch in self._val_batches:
                    with self._autocast():
                        loss, _ = loss_fn(self.model, batch.to(self.device), self.step, self.cfg.total_steps)
                    losses.append(float(loss))
                out[tag] = float(np.mean(losses))
        self.model.train(was_training)
        return out

    @torch.no_grad()
    def reconstruct(self) -> dict[str, float]:
        """The reconstruction probe on fixed held-out excerpts, for the EMA weights (`recon_*`) and the raw
        weights (`recon_raw_*`): a fine-tune's EMA lags its raw weights, so both are logged."""
        folders = self.cfg.recon_data or self.cfg.val_data
        if not folders or not hasattr(self.model, "encode"):
            return {}
        from m2l2.training.recon import ReconstructionProbe

        if self._probe is None:
            self._probe = ReconstructionProbe.from_folders(
                [f.path for f in folders],
                self.cfg.recon_clips,
                self.cfg.recon_seconds,
                self.channels,
                seed=self.cfg.seed + VAL_SEED_OFFSET,
            )
        was_training = self.model.training
        self.model.eval()
        devices = [self.device.index] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                raw = self._probe.evaluate(self.model)
            with self.ema.applied(self.model), torch.random.fork_rng(devices=devices):
                ema = self._probe.evaluate(self.model)
            return ema | {k.replace("recon_", "recon_raw_", 1): v for k, v in raw.items()}
        finally:
            self.model.train(was_training)

    # --- the loop --------------------------------------------------------------------------------

    def _log(self, row: dict[str, Any]) -> None:
        if self.dist.is_main:
            self.folder.append(row)

    def stop_requested(self) -> bool:
        """A file named STOP in the run folder ends the run cleanly after the current step (with a checkpoint).
        Only rank 0 reads it and broadcasts its answer, so every DDP rank stops at the same step."""
        flag = torch.tensor(float(self.dist.is_main and self.folder.stop_requested()), device=self.device)
        if self.dist.distributed:
            torch.distributed.broadcast(flag, 0)
        return bool(flag)

    def fit(self, resume: bool = False, until_step: int | None = None) -> int:
        """Train to `total_steps` (or stop early at `until_step`, keeping the schedule); returns the step.

        With `resume`, continue from the newest checkpoint in the run directory. A checkpoint is
        written at the end, every `checkpoint_every` steps and every `checkpoint_minutes` minutes.
        Creating `<run dir>/STOP` stops the run after the current step (delete it before resuming).
        """
        cfg = self.cfg
        if resume:
            self.resume()
        elif self.dist.is_main:
            self.folder.refuse_reuse()
        if self.dist.is_main:
            self.folder.write_config(self.config)
        end = min(cfg.total_steps, until_step if until_step is not None else cfg.total_steps)
        if self.step >= end:
            return self.step
        from tqdm.auto import tqdm

        bar = tqdm(total=end, initial=self.step, desc="train", unit="step",
                   disable=not (self.dist.is_main and cfg.progress), dynamic_ncols=True)
        batches = iter(self._loader())
        window = _LossWindow(self.device)
        last_ckpt_time = time.monotonic()
        try:
            while self.step < end:
                out = self.train_step(batches)
                window.add(out["loss"])
                bar.update(1)
                if self.step % max(cfg.log_every, 1) == 0 or self.step == end:
                    row = self._training_row(out, window)
                    bar.set_postfix(loss=f"{row['loss']:.4g}", lr=f"{row['lr']:.2e}", it_s=f"{row['steps_per_s']:.2f}")
                self._run_probes()
                if self.stop_requested():
                    break
                if self._checkpoint_due(last_ckpt_time) and self.step < end:
                    self.save()
                    last_ckpt_time = time.monotonic()
            self.save()
        finally:
            bar.close()
        return self.step

    def _training_row(self, out: dict[str, Any], window: _LossWindow) -> dict[str, Any]:
        """Log the mean loss over the steps since the last row (all ranks), and restart the window."""
        mean_loss, steps_per_s = window.take(self.dist)
        row = {"step": self.step, "loss": mean_loss, "lr": out["lr"], "grad_norm": float(out["grad_norm"]),
               "steps_per_s": steps_per_s, "skipped_total": self.skipped_total, "time": time.time()}
        row.update({k: v for k, v in out.items() if k not in row and isinstance(v, float)})
        self._log(row)
        return row

    def _run_probes(self) -> None:
        """Validation loss and the reconstruction probe, when due (main process only)."""
        cfg = self.cfg
        if not self.dist.is_main:
            return
        if cfg.val_data and cfg.val_every > 0 and self.step % cfg.val_every == 0:
            self._log({"step": self.step, **self.validate(), "time": time.time()})
        if cfg.recon_every > 0 and self.step % cfg.recon_every == 0:
            self._log({"step": self.step, **self.reconstruct(), "time": time.time()})

    def _checkpoint_due(self, last_time: float) -> bool:
        cfg = self.cfg
        due_steps = cfg.checkpoint_every > 0 and self.step % cfg.checkpoint_every == 0
        due_time = cfg.checkpoint_minutes > 0 and time.monotonic() - last_time > 60 * cfg.checkpoint_minutes
        return due_steps or due_time


class _LossWindow:
    """The losses of the steps since the last log row, kept on the device until they are logged."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._reset()

    def _reset(self) -> None:
        self.total, self.steps, self.start = torch.zeros((), device=self.device), 0, time.monotonic()

    def add(self, loss: torch.Tensor) -> None:
        self.total += loss
        self.steps += 1

    def take(self, dist: DistInfo) -> tuple[float, float]:
        """(mean loss over every rank, steps per second) of the window; starts a new one."""
        mean = float(all_reduce_mean(self.total / max(self.steps, 1), dist))
        rate = self.steps / max(time.monotonic() - self.start, 1e-9)
        self._reset()
        return mean, rate
