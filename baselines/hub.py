"""Pretrained weights kept where users already keep them: the Hugging Face hub cache.

Files are resolved with `huggingface_hub` as any of its users would: its cache (`HF_HUB_CACHE`, or
`HF_HOME/hub`, default `~/.cache/huggingface/hub`), `HF_HUB_OFFLINE=1`, a token for gated repositories
(`hf auth login` or `HF_TOKEN`), or a plain local folder (`local_dir=...`). A file present in the cache is
found without any network access.

Nothing downloads unless asked: `m2l2 weights fetch NAME`, the adapter option `download=true`, or
`M2L2_DOWNLOAD_WEIGHTS=1`. Otherwise a missing file is one `M2L2Error` line naming the repository, the
file, the licence and the command that gets it, so `m2l2 tables` skips the row with that reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from m2l2.errors import M2L2Error

DOWNLOAD_ENV = "M2L2_DOWNLOAD_WEIGHTS"
_TRUE = {"1", "true", "yes", "on"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class HubWeights:
    """The files of one pretrained model in a hub repository (a subfolder's files carry it: `vae/config.json`)."""

    name: str  # short name for `m2l2 weights fetch NAME`
    repo_id: str
    files: tuple[str, ...]
    licence: str
    revision: str = "main"  # a branch, tag or commit; provenance records the commit actually used
    gated: bool = False  # the licence must be accepted on the hub and a token be available
    used_by: str = ""

    def fetch_command(self) -> str:
        return f"m2l2 weights fetch {self.name}"

    def hf_command(self) -> str:
        rev = "" if self.revision == "main" else f" --revision {self.revision}"
        return f"hf download {self.repo_id} {' '.join(self.files)}{rev}"

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"


HUB: dict[str, HubWeights] = {}


def register_hub(entry: HubWeights) -> HubWeights:
    """Make a model's hub files known to `m2l2 weights` and `m2l2 baselines list` (adapters call this at import)."""
    HUB[entry.name] = entry
    return entry


@dataclass(frozen=True)
class Resolved:
    """Where the files of a `HubWeights` are on this machine."""

    entry: HubWeights
    files: dict[str, Path]  # repository path → local file
    commit: str | None  # the snapshot's commit (None for a local folder)
    source: str  # "hub cache" or "local folder"

    def path(self, file: str) -> Path:
        return self.files[file]

    def sha256(self, file: str) -> str:
        """The file's sha256: the cache names large files' blobs by it, others are hashed here."""
        target = self.files[file].resolve()
        if _SHA256.match(target.name):
            return target.name
        from m2l2.weights import sha256_of

        return sha256_of(target)

    @property
    def label(self) -> str:
        at = f"@{self.commit[:12]}" if self.commit else f" ({self.source})"
        return f"{self.entry.repo_id}{at}"


def hub_cache_dir() -> Path:
    """The cache huggingface_hub uses, read from the environment now (not when huggingface_hub was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def download_allowed(option: bool | None = None) -> bool:
    """Downloads happen only on request (option, or M2L2_DOWNLOAD_WEIGHTS=1), and never with HF_HUB_OFFLINE=1."""
    if offline():
        return False
    if option is not None:
        return bool(option)
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in _TRUE


def _hub_module():
    try:
        import huggingface_hub
    except ImportError as e:
        raise M2L2Error(f"huggingface_hub is not installed ({e}): pip install 'm2l2[baselines]'") from e
    return huggingface_hub


def _snapshot_of(path: Path, file: str) -> Path:
    for _ in Path(file).parts:
        path = path.parent
    return path


def find_cached(entry: HubWeights, revision: str | None = None) -> Resolved | None:
    """The entry's files from the hub cache, or None when any is missing. Never touches the network."""
    hub = _hub_module()
    files: dict[str, Path] = {}
    for file in entry.files:
        found = hub.try_to_load_from_cache(entry.repo_id, file, cache_dir=hub_cache_dir(),
                                           revision=revision or entry.revision)
        if not isinstance(found, str) or not Path(found).is_file():
            return None
        files[file] = Path(found)
    commit = _snapshot_of(next(iter(files.values())), entry.files[0]).name
    return Resolved(entry, files, commit, "hub cache")


def first_missing(entry: HubWeights, revision: str | None = None) -> str | None:
    """The first of the entry's files that the cache lacks (None: all present)."""
    hub = _hub_module()
    for file in entry.files:
        found = hub.try_to_load_from_cache(entry.repo_id, file, cache_dir=hub_cache_dir(),
                                           revision=revision or entry.revision)
        if not isinstance(found, str):
            return file
    return None


def from_folder(entry: HubWeights, folder: str | Path) -> Resolved:
    """The entry's files from a local folder laid out like the repository (e.g. a `hf download --local-dir` copy)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise M2L2Error(f"weights folder not found ({root}): pass local_dir=FOLDER holding {', '.join(entry.files)}")
    files = {f: root / f for f in entry.files}
    for file, path in files.items():
        if not path.is_file():
            raise M2L2Error(f"weights file missing ({path}): {entry.name} needs {entry.repo_id}/{file} "
                            f"(licence: {entry.licence}); `{entry.hf_command()} --local-dir {root}` puts it there")
    return Resolved(entry, files, None, "local folder")


def missing_message(entry: HubWeights, file: str, revision: str | None = None) -> str:
    """One line: which file of which repository is missing, its licence, and the command that gets it."""
    rev = revision or entry.revision
    at = "" if rev == "main" else f"@{rev}"
    gated = " (gated: accept its licence on the hub page and log in with `hf auth login` or set HF_TOKEN)" \
        if entry.gated else ""
    return (f"weights missing ({entry.repo_id}{at}/{file}, licence: {entry.licence}; hub cache {hub_cache_dir()}): "
            f"run `{entry.fetch_command()}` on a machine with internet{gated}, or pass local_dir=FOLDER")


def fetch(entry: HubWeights, revision: str | None = None) -> Resolved:
    """Download the entry's files into the hub cache (huggingface_hub's `snapshot_download`, with its token)."""
    hub = _hub_module()
    from huggingface_hub import errors

    if offline():
        raise M2L2Error(f"HF_HUB_OFFLINE is set ({entry.repo_id}): unset it to download {entry.name}")
    try:
        hub.snapshot_download(entry.repo_id, revision=revision or entry.revision, cache_dir=hub_cache_dir(),
                              allow_patterns=list(entry.files))
    except errors.GatedRepoError as e:
        raise M2L2Error(f"{entry.repo_id} is gated ({type(e).__name__}): accept its licence ({entry.licence}) at "
                        f"{entry.url} and log in with `hf auth login` or set HF_TOKEN") from e
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError) as e:
        raise M2L2Error(
            f"{entry.repo_id}@{revision or entry.revision} not found on the hub, {type(e).__name__} "
            f"({entry.name}): check the repository name and the revision"
        ) from e
    except (OSError, errors.HfHubHTTPError, errors.LocalEntryNotFoundError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise M2L2Error(f"could not download {entry.repo_id} ({first}): check the connection, "
                        f"or run `{entry.hf_command()}` elsewhere and copy the cache") from e
    found = find_cached(entry, revision)
    if found is None:
        raise M2L2Error(f"the download finished without {first_missing(entry, revision)} ({entry.repo_id}): "
                        "the repository layout may have changed; pass revision=COMMIT")
    return found


def resolve(entry: HubWeights, local_dir: str | Path | None = None, revision: str | None = None,
            download: bool | None = None) -> Resolved:
    """The entry's files: from `local_dir`, else the hub cache, else a download if allowed, else one-line M2L2Error."""
    if local_dir is not None:
        return from_folder(entry, local_dir)
    found = find_cached(entry, revision)
    if found is not None:
        return found
    if not download_allowed(download):
        raise M2L2Error(missing_message(entry, first_missing(entry, revision) or entry.files[0], revision))
    return fetch(entry, revision)


def status(entry: HubWeights) -> str:
    """'cached' or 'missing' (huggingface_hub absent counts as missing)."""
    try:
        return "cached" if find_cached(entry) is not None else "missing"
    except M2L2Error:
        return "missing"
