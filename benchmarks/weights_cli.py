"""`m2l2 weights list|fetch`: every weights file the embedders and baselines know, and a download on request.

Hub models (the baselines on transformers, diffusers and codicodec) go through `huggingface_hub` (its cache,
token and progress bars); other files are downloaded by URL into the weights directory with a sha256 check.
"""

from __future__ import annotations

import baselines  # noqa: F401 (importing registers the baselines' weights files)
import benchmarks.embedders  # noqa: F401 (importing registers the embedders' weights files)
from baselines import hub
from m2l2.errors import M2L2Error
from m2l2.weights import WEIGHTS, fetch_weights, find_weights, weights_dir


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="list or fetch pretrained weights files")
    s = p.add_subparsers(dest="weights_command", metavar="ACTION")
    ls = s.add_parser("list", help="known weights files and whether they are present")
    ls.set_defaults(func=_cmd_list)
    f = s.add_parser("fetch", help="download a weights file or hub snapshot (needs internet)")
    f.add_argument("name", help="a name from `m2l2 weights list`")
    f.add_argument("--revision", default=None, help="hub models: branch, tag or commit (default: the registered one)")
    f.set_defaults(func=_cmd_fetch)
    p.set_defaults(func=_cmd_list)


def _cmd_fetch(args) -> int:
    """Hub models through huggingface_hub (its cache, token and progress bars); other files by URL."""
    hub_models = hub.HUB
    if args.name in hub_models:
        found = hub.fetch(hub_models[args.name], args.revision)
        print(f"{found.label}: {', '.join(str(p) for p in found.files.values())}")
        return 0
    if args.name not in WEIGHTS:
        known = sorted([*WEIGHTS, *hub_models])
        raise M2L2Error(f"unknown weights {args.name!r} (m2l2 weights fetch): known: {', '.join(known)}")
    print(fetch_weights(args.name))
    return 0


def _cmd_list(args) -> int:
    hub_models = hub.HUB
    if hub_models:
        print(f"hub cache: {hub.hub_cache_dir()}  (HF_HOME / HF_HUB_CACHE)")
        for entry in sorted(hub_models.values(), key=lambda e: e.name):
            print(f"  {entry.name:24s} {hub.status(entry):8s} {entry.repo_id}: {', '.join(entry.files)}  "
                  f"[{entry.licence}]")
    print(f"weights directory: {weights_dir()}  (set M2L2_WEIGHTS_DIR to change)")
    for entry in sorted(WEIGHTS.values(), key=lambda e: e.name):
        state = "present" if find_weights(entry.name) else "missing"
        print(f"  {entry.name:24s} {state:8s} {entry.filename}  <- {entry.url}")
    return 0
