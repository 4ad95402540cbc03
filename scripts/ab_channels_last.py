"""Same-run A/B of paper-config decoding: upstream Music2Latent vs contiguous vs channels-last (3 s, 2 repeats).

`PYTHONPATH=$PWD python scripts/ab_channels_last.py`
"""
import time

import torch

import m2l2
from m2l2.speed import _upstream_fns

torch.manual_seed(0)
audio = torch.randn(1, 1, int(3 * 44100), generator=torch.Generator().manual_seed(0)) * 0.1
sec = audio.shape[-1] / 44100
model = m2l2.build("paper").eval()
lat = model.encode(audio)
model_cl = m2l2.build("paper").eval(); model_cl.load_state_dict(model.state_dict()); model_cl.to(memory_format=torch.channels_last)
_, up_dec = _upstream_fns(audio, torch.device("cpu"))
fns = {"upstream dec": up_dec,
       "m2l2 dec contiguous": lambda: model.decode(lat, length=audio.shape[-1], generator=torch.Generator().manual_seed(0)),
       "m2l2 dec channels_last": lambda: model_cl.decode(lat, length=audio.shape[-1], generator=torch.Generator().manual_seed(0))}
outs = {k: f() for k, f in fns.items()}
print("max |diff| channels_last vs contiguous", (outs["m2l2 dec channels_last"] - outs["m2l2 dec contiguous"]).abs().max().item())
t = {k: [] for k in fns}
for r in range(2):
    for k, f in fns.items():
        s = time.perf_counter(); f(); t[k].append((time.perf_counter() - s) / sec)
for k, v in t.items(): print(f"{k:24s} RTF " + " ".join(f"{x:.3f}" for x in v) + f" best {min(v):.3f}")
print("ratio contiguous/upstream", min(t["m2l2 dec contiguous"]) / min(t["upstream dec"]), "channels_last/upstream", min(t["m2l2 dec channels_last"]) / min(t["upstream dec"]))
