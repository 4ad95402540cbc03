"""DDP smoke test: two CPU processes with the gloo backend end with identical weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from helpers_m2l2 import ToyModel, make_data, toy_loss
from safetensors.torch import load_file, save_file

from m2l2.checkpoint import list_checkpoints, load_checkpoint
from m2l2.training.config import TrainConfig
from m2l2.training.ddp import cleanup, init_distributed
from m2l2.training.trainer import Trainer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    try:
        assert torch.distributed.get_backend() == "gloo"
        torch.manual_seed(100 + rank)  # different initial weights: DDP must broadcast rank 0's
        cfg = TrainConfig(
            batch_size=8,
            grad_accum=2,
            lr=1e-2,
            warmup_steps=2,
            total_steps=4,
            ema_decay=0.5,
            data=[f"{root}/data/a", f"{root}/data/b"],
            num_workers=0,
            log_every=1,
            checkpoint_every=2,
            checkpoint_minutes=0,
            progress=False,
            seed=1,
        )
        tr = Trainer(ToyModel(), cfg, f"{root}/run", loss_fn=toy_loss, dist=info)
        tr.fit()
        state = {f"model/{k}": v for k, v in tr.model.state_dict().items()}
        state.update({f"ema/{k}": v for k, v in tr.ema.state_dict().items()})
        save_file({k: v.contiguous() for k, v in state.items()}, f"{root}/rank{rank}.safetensors")
    finally:
        cleanup(info)


@pytest.mark.slow
def test_ddp_two_cpu_ranks_stay_identical(tmp_path):
    make_data(tmp_path / "data")
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    torch.manual_seed(100)
    init = ToyModel().state_dict()
    assert not torch.equal(r0["model/net.conv1.weight"], init["net.conv1.weight"]), "the weights were trained"
    # rank 0 alone wrote the checkpoints and the log, and they hold the final weights
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")][-1] == "step-00000004.json"
    ck = load_checkpoint(tmp_path / "run")
    assert torch.equal(ck.model["net.conv1.weight"], r0["model/net.conv1.weight"])
    assert ck.extra["data"]["world_size"] == 2
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 4
