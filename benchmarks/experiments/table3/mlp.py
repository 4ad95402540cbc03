"""The mir_ref probe: an MLP on standardised clip embeddings, trained as mir_ref trains it, minus its bugs.

Protocol (mir_ref's `classifier` probe, hidden_units [256, 128]): ReLU hidden layers, no dropout, L2 1e-5 on
every kernel (Keras' kernel_regularizer: sum of squares, biases free), Glorot-uniform kernels and zero biases
(Keras' defaults), Adam lr 1e-3, batch 1083 with a reshuffle each epoch, up to 100 epochs, early stopping once
the validation loss has not improved for 10 epochs, and the weights of the epoch with the best validation
AUC-ROC (multi-label) or accuracy (multi-class) kept. Departures, on purpose: the last partial batch is kept
(mir_ref drops it, also at test time, so up to 1,082 test items were never scored), features are standardised
with training statistics, and every run is seeded (mir_ref sets no seed).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from m2l2.errors import M2L2Error

PROBE_VERSION = "mir_ref-mlp-v1"  # bump when training or prediction changes


@dataclass
class ProbeConfig:
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    l2: float = 1e-5
    lr: float = 1e-3
    batch_size: int = 1083
    max_epochs: int = 100
    patience: int = 10
    standardize: bool = True
    threads: int | None = 1  # torch CPU threads while training (a probe this small gains nothing from more)


@dataclass
class ProbeResult:
    net: nn.Module
    mean: np.ndarray
    std: np.ndarray
    multilabel: bool
    best_epoch: int  # 1-based epoch whose weights were kept
    epochs_run: int
    history: list[dict[str, float]]
    batch_size: int

    @torch.no_grad()
    def predict_scores(self, x: np.ndarray) -> np.ndarray:
        """Probabilities [n, classes] for every row of `x` (batched; the last partial batch is kept)."""
        z = torch.from_numpy(((np.asarray(x, np.float32) - self.mean) / self.std).astype(np.float32))
        self.net.eval()
        out = [self.net(z[i : i + self.batch_size]) for i in range(0, len(z), self.batch_size)]
        logits = torch.cat(out) if out else torch.zeros(0, 0)
        probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)
        return probs.double().numpy()


def build_mlp(n_in: int, n_out: int, hidden: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    for m in layers:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)  # Keras' glorot_uniform
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


def _validation_metric(y: np.ndarray, scores: np.ndarray, multilabel: bool) -> float:
    if not multilabel:
        return float(np.mean(scores.argmax(1) == y))
    from sklearn.metrics import roc_auc_score

    pos = y.sum(0)
    usable = (pos > 0) & (pos < len(y))
    if not usable.any():
        return float("nan")
    return float(roc_auc_score(y[:, usable], scores[:, usable], average="macro"))


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """Run with `threads` intra-op threads (unchanged when None/0) and restore the previous count."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _feature_scaling(x_train: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per feature from the training items (0 and 1 without standardising); a constant feature
    keeps std 1, so it is not divided by zero."""
    mean = x_train.mean(0) if standardize else np.zeros(x_train.shape[1], np.float32)
    std = x_train.std(0) if standardize else np.ones(x_train.shape[1], np.float32)
    return mean, np.where(std > 1e-8, std, 1.0).astype(np.float32)


def _targets(
    y_train: np.ndarray, y_valid: np.ndarray, multilabel: bool
) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    """Training and validation targets as tensors, and the loss that fits them: binary cross-entropy per tag
    (multi-hot float targets) or cross-entropy over classes (class indices)."""
    if multilabel:
        yt = torch.from_numpy(np.asarray(y_train, np.float32))
        yv = torch.from_numpy(np.asarray(y_valid, np.float32))
        return yt, yv, nn.BCEWithLogitsLoss()
    yt = torch.from_numpy(np.asarray(y_train, np.int64))
    yv = torch.from_numpy(np.asarray(y_valid, np.int64))
    return yt, yv, nn.CrossEntropyLoss()


def _train_epoch(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: nn.Module,
    penalty: Callable[[], torch.Tensor],
    xt: torch.Tensor,
    yt: torch.Tensor,
    gen: torch.Generator,
    batch_size: int,
) -> float:
    """One pass over the training items in a fresh random order; returns the mean training loss."""
    net.train()
    order = torch.randperm(len(xt), generator=gen)
    total = 0.0
    for i in range(0, len(order), batch_size):  # the last partial batch is trained on too
        idx = order[i : i + batch_size]
        loss = loss_fn(net(xt[idx]), yt[idx]) + penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / len(xt)


@torch.no_grad()
def _validate(
    net: nn.Module,
    loss_fn: nn.Module,
    penalty: Callable[[], torch.Tensor],
    xv: torch.Tensor,
    yv: torch.Tensor,
    batch_size: int,
    multilabel: bool,
) -> tuple[float, float]:
    """(validation loss with the L2 term, validation metric): what early stopping and the kept weights
    go by."""
    net.eval()
    logits = torch.cat([net(xv[i : i + batch_size]) for i in range(0, len(xv), batch_size)])
    val_loss = float(loss_fn(logits, yv) + penalty())
    probs = torch.sigmoid(logits) if multilabel else torch.softmax(logits, 1)
    return val_loss, _validation_metric(yv.numpy(), probs.double().numpy(), multilabel)


def _fit(
    result: ProbeResult,
    xt: torch.Tensor,
    yt: torch.Tensor,
    xv: torch.Tensor,
    yv: torch.Tensor,
    loss_fn: nn.Module,
    gen: torch.Generator,
    cfg: ProbeConfig,
) -> None:
    """Train `result.net` with Adam and L2 on its kernels until the validation loss has not improved for
    `cfg.patience` epochs; keep the weights of the epoch with the best finite validation metric (the last
    weights when there is none). Fills the result's history, best epoch and epochs run."""
    net = result.net
    kernels = [m.weight for m in net.modules() if isinstance(m, nn.Linear)]
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)

    def penalty() -> torch.Tensor:
        return cfg.l2 * sum((w**2).sum() for w in kernels)

    best_metric, best_state = -np.inf, None
    best_loss, since_best_loss = np.inf, 0
    for epoch in range(1, cfg.max_epochs + 1):
        train_loss = _train_epoch(net, opt, loss_fn, penalty, xt, yt, gen, cfg.batch_size)
        val_loss, metric = _validate(net, loss_fn, penalty, xv, yv, cfg.batch_size, result.multilabel)
        result.history.append(
            {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_metric": metric}
        )
        if np.isfinite(metric) and metric > best_metric:
            best_metric, best_state, result.best_epoch = metric, copy.deepcopy(net.state_dict()), epoch
        if val_loss < best_loss:
            best_loss, since_best_loss = val_loss, 0
        else:
            since_best_loss += 1
        result.epochs_run = epoch
        if since_best_loss >= cfg.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        result.best_epoch = result.epochs_run  # no finite validation metric: keep the last weights


def train_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    n_classes: int,
    multilabel: bool,
    seed: int = 0,
    cfg: ProbeConfig | None = None,
) -> ProbeResult:
    """Train one probe. y is [n] class indices (multi-class) or [n, n_classes] multi-hot (multi-label)."""
    cfg = cfg or ProbeConfig()
    with _torch_threads(cfg.threads):
        x_train = np.asarray(x_train, np.float32)
        x_valid = np.asarray(x_valid, np.float32)
        if len(x_train) == 0 or len(x_valid) == 0:
            raise M2L2Error(
                f"the probe got {len(x_train)} training and {len(x_valid)} validation items (x_train, "
                "x_valid arguments): give at least one of each"
            )
        mean, std = _feature_scaling(x_train, cfg.standardize)
        xt = torch.from_numpy((x_train - mean) / std)
        xv = torch.from_numpy((x_valid - mean) / std)
        yt, yv, loss_fn = _targets(y_train, y_valid, multilabel)
        gen = torch.Generator().manual_seed(int(seed))  # the batch order of every epoch
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = build_mlp(xt.shape[1], n_classes, cfg.hidden)
        result = ProbeResult(net, mean.astype(np.float32), std, multilabel, 0, 0, [], cfg.batch_size)
        _fit(result, xt, yt, xv, yv, loss_fn, gen, cfg)
        net.eval()
        return result
