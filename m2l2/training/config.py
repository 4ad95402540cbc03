"""Training hyper-parameters as one dataclass, loaded from the `train:` section of a YAML config.

Defaults follow the paper's recipe (model-facts.md, "Training recipe"): batch 16, RAdam lr 1e-4 with
betas (0.9, 0.999), 10k-step linear warm-up (upstream Music2Latent), cosine decay to 1e-6, EMA 0.9999,
1 M steps, EMA warm-up, no gradient clipping (train.grad_clip adds it; the 1/Δσ loss weight makes
gradient norms of 10²–10⁴ normal, so a clip at 1.0 rescales every step).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from m2l2.errors import M2L2Error

PRECISIONS = ("fp32", "bf16", "fp16")
RETIRED = {"anchor_fraction": 0.0, "anchor_only_latents": False}  # removed options and their inert values
OPTIMIZERS = ("radam", "adam")


@dataclass
class DataFolder:
    """A folder of audio files and its share of the training mix (weights are normalised over folders)."""

    path: str
    weight: float = 1.0

    @classmethod
    def parse(cls, item: Any) -> DataFolder:
        """Accept `{"path": p, "weight": w}`, `"p"` or `"p:w"` (weight after the last colon)."""
        if isinstance(item, DataFolder):
            return item
        if isinstance(item, dict):
            unknown = set(item) - {"path", "weight"}
            if unknown or "path" not in item:
                raise M2L2Error(
                    f"a data folder with keys {sorted(item)} (train data): give it the keys path and weight"
                )
            return cls(str(item["path"]), float(item.get("weight", 1.0)))
        if isinstance(item, str):
            head, sep, tail = item.rpartition(":")
            if sep and head:
                try:
                    return cls(head, float(tail))
                except ValueError:
                    pass
            return cls(item, 1.0)
        raise M2L2Error(
            f"cannot read a data folder from {item!r} (train data): give PATH, PATH:WEIGHT or "
            "{path, weight}"
        )


def parse_folders(value: Any) -> list[DataFolder]:
    """A list of folders from a list, a `{path: weight}` mapping or a comma-separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, dict) and "path" not in value:
        value = [{"path": k, "weight": w} for k, w in value.items()]
    elif isinstance(value, (dict, DataFolder)):
        value = [value]
    folders = [DataFolder.parse(v) for v in value]
    for f in folders:
        if not f.weight > 0:
            raise M2L2Error(f"data folder weight {f.weight} is not positive ({f.path}): weight must be > 0")
    return folders


@dataclass
class TrainConfig:
    """Everything the training loop needs besides the model. `batch_size` is the global batch per
    optimizer step: it is split over DDP ranks and gradient-accumulation micro-steps, so one config
    trains the same run on 1 or 8 GPUs."""

    batch_size: int = 16
    grad_accum: int = 1
    # "radam" as upstream, or "adam": RAdam's variance rectification scales the first steps down
    # (to 5 % of the LR at step 10, 22 % at step 100, 38 % at step 300), an extra warm-up of ~10³ steps.
    optimizer: str = "radam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 10_000
    lr_final: float = 1e-6
    total_steps: int = 1_000_000
    ema_decay: float = 0.9999
    ema_warmup: bool = True  # decay min(ema_decay, (1 + n) / (10 + n)) at update n, as upstream
    delta_t_start: float = 0.1  # consistency step Δt (in t ∈ [0, 1]) at step 0; upstream 0.1
    delta_t_end: float = 0.001  # Δt at total_steps; upstream 0.001
    loss_weighting: str = "delta_sigma"  # "delta_sigma" (upstream 1/Δσ) or "f_space" (see edm.consistency_weight)
    delta_schedule: str = "t_index"  # "t_index" (Δt above) or "ect" (Easy Consistency Tuning's relative step)
    ect_q: float = 256.0  # "ect": the teacher's gap shrinks by ect_q per stage
    ect_stages: int = 8  # "ect": stages over total_steps
    p_mean: float = -1.1  # lognormal σ sampling (upstream); raise it or p_std to train high σ more often
    p_std: float = 2.0
    t_max_fraction: float = 0.0  # share of noise indices set to t = 1, σ_max; only with Δt = 1 (denoising)
    output_magnitude_weight: float = 0.0  # consistency output's magnitude vs the clean chunk's (consistency.py)
    detach_cross: bool = False  # consistency terms do not train encoder/decoder (magnitude head only; consistency.py)
    magnitude_weight: float = 1.0  # weight of the magnitude-head loss (models with model.magnitude_head only)
    grad_clip: float = 0.0  # max global grad norm; 0 (upstream) disables clipping (the norm is still logged)
    precision: str = "fp32"  # "fp32" | "bf16" | "fp16" (autocast; fp16 on GPU only, with a grad scaler)
    compile: bool = False  # torch.compile the model's top-level sub-modules
    data: list[DataFolder] = field(default_factory=list)
    crop_samples: int | None = None  # None: the model's training length (two chunks + 3 hops)
    rms_threshold: float = 0.001  # crops quieter than this RMS are drawn again
    max_quiet_retries: int = 200  # consecutive quiet crops before giving up with an error
    val_data: list[DataFolder] = field(default_factory=list)  # held-out folder(s); empty: no validation
    val_every: int = 5_000
    val_batches: int = 4  # fixed validation batches (same crops and noise every time)
    recon_every: int = 0  # steps between reconstruction probes (EMA weights, SI-SDR, band errors); 0: off
    recon_data: list[DataFolder] = field(default_factory=list)  # probe clips; empty: the val_data folders
    recon_clips: int = 4  # fixed clips spread over the sorted files
    recon_seconds: float = 3.0  # excerpt from the middle of each clip
    checkpoint_every: int = 5_000  # steps; 0 disables the step trigger
    checkpoint_minutes: float = 30.0  # wall-clock trigger; 0 disables it
    keep_last: int = 3  # checkpoints kept in the run directory (0 keeps all)
    log_every: int = 50
    seed: int = 0
    num_workers: int = 2
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    max_bad_steps: int = 20  # consecutive non-finite steps before the run stops
    find_unused_parameters: bool = False  # DDP option for models with parameters unused in the loss
    progress: bool = True  # tqdm bar on rank 0

    def __post_init__(self) -> None:
        self.data = parse_folders(self.data)
        self.val_data = parse_folders(self.val_data)
        self.recon_data = parse_folders(self.recon_data)
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        self.validate()

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise M2L2Error(
                f"unknown optimizer {self.optimizer!r} (train.optimizer): use one of {OPTIMIZERS}"
            )
        if self.precision not in PRECISIONS:
            raise M2L2Error(
                f"unknown precision {self.precision!r} (train.precision): use one of {PRECISIONS}"
            )
        for name in ("batch_size", "grad_accum", "total_steps"):
            if int(getattr(self, name)) < 1:
                raise M2L2Error(f"invalid value {getattr(self, name)} (train.{name}): must be >= 1")
        if self.warmup_steps < 0 or self.lr_final < 0 or self.lr <= 0:
            raise M2L2Error(
                f"invalid learning-rate schedule lr={self.lr}, warmup_steps={self.warmup_steps}, "
                f"lr_final={self.lr_final} (train.lr, train.warmup_steps, train.lr_final): train.lr must be "
                "> 0 and train.warmup_steps, train.lr_final >= 0"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise M2L2Error(f"invalid value {self.ema_decay} (train.ema_decay): must be in [0, 1)")
        from m2l2.edm import WEIGHTINGS

        if self.loss_weighting not in WEIGHTINGS:
            raise M2L2Error(
                f"unknown loss weighting {self.loss_weighting!r} (train.loss_weighting): use one of "
                f"{WEIGHTINGS}"
            )
        if not 0.0 <= self.t_max_fraction <= 1.0:
            raise M2L2Error(f"invalid value {self.t_max_fraction} (train.t_max_fraction): must be in [0, 1]")
        if self.ect_q <= 1 or self.ect_stages < 1 or self.p_std <= 0:
            raise M2L2Error(
                f"invalid values ect_q={self.ect_q}, ect_stages={self.ect_stages}, p_std={self.p_std} "
                "(train.ect_q, train.ect_stages, train.p_std): train.ect_q must be > 1, train.ect_stages >= "
                "1 and train.p_std > 0"
            )
        if self.magnitude_weight < 0:
            raise M2L2Error(f"invalid value {self.magnitude_weight} (train.magnitude_weight): must be >= 0")
        if not 0.0 < self.delta_t_end <= self.delta_t_start <= 1.0:
            raise M2L2Error(
                f"invalid consistency steps {self.delta_t_start} and {self.delta_t_end} "
                "(train.delta_t_start, train.delta_t_end): they must satisfy 0 < end <= start <= 1"
            )
        if self.crop_samples is not None and self.crop_samples < 1:
            raise M2L2Error(f"invalid value {self.crop_samples} (train.crop_samples): must be >= 1")
        try:
            self.objective()
        except ValueError as e:
            raise M2L2Error(
                f"train.t_max_fraction={self.t_max_fraction} with a consistency step below 1, {e} "
                "(train.t_max_fraction): set train.t_max_fraction=0, or "
                "train.delta_t_start=train.delta_t_end=1 for plain denoising"
            ) from None

    def objective(self):
        """The consistency objective these options describe (m2l2.consistency.Objective)."""
        from m2l2.consistency import SCHEDULES, Objective

        if self.delta_schedule not in SCHEDULES:
            raise M2L2Error(
                f"unknown schedule {self.delta_schedule!r} (train.delta_schedule): use one of {SCHEDULES}"
            )
        return Objective(
            delta_t_range=(self.delta_t_start, self.delta_t_end),
            schedule=self.delta_schedule,
            ect_q=self.ect_q,
            ect_stages=self.ect_stages,
            weighting=self.loss_weighting,
            t_max_fraction=self.t_max_fraction,
            p_mean=self.p_mean,
            p_std=self.p_std,
        )

    def micro_batch(self, world_size: int) -> int:
        """Per-rank batch of one micro-step; the global batch must split evenly."""
        parts = world_size * self.grad_accum
        if self.batch_size % parts:
            raise M2L2Error(
                f"train.batch_size={self.batch_size} does not split over {world_size} rank(s) x "
                f"{self.grad_accum} accumulation step(s) (train.batch_size): pick a multiple of {parts}"
            )
        return self.batch_size // parts

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TrainConfig:
        """Build from a YAML `train:` mapping; unknown keys are an error (they are usually typos)."""
        d = dict(d or {})
        for name, inert in RETIRED.items():  # older run folders record them at their inert value
            if name in d and d.pop(name) != inert:
                raise M2L2Error(
                    f"train.{name} was removed, it gave the high noise levels a denoising target beside the "
                    f"consistency target (train.{name}): drop it from the configuration, or train with m2l2 "
                    "<= 0.1 at commit 60721f4"
                )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise M2L2Error(
                f"unknown train option(s) {unknown} (train): use known options: {', '.join(sorted(names))}"
            )
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name in ("data", "val_data", "recon_data"):
                kwargs[f.name] = parse_folders(v)
            elif f.name == "betas":
                kwargs[f.name] = tuple(float(b) for b in v)
            elif f.name == "crop_samples":
                kwargs[f.name] = None if v in (None, "", "none", "None") else int(v)
            else:
                kwargs[f.name] = _coerce(f.name, v, f.default)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-safe mapping that `from_dict` reads back to an equal config."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Cast YAML / command-line values to the type of the field's default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int):
            f = float(value)
            if f != int(f):
                raise ValueError(value)
            return int(f)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as e:
        raise M2L2Error(
            f"cannot read {value!r} as {type(default).__name__} (train.{name}): give a value of that type"
        ) from e
