"""The Debian packages the suite is built from: pinned versions, licences, and download + extraction.

Data packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` (no install, no root).
A pinned version that the archive no longer has falls back to the candidate version, loudly, and the manifest
records what was used.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from m2l2.errors import M2L2Error
from m2l2.io import sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    package: str
    version: str  # pinned Debian 12 version
    licence: str
    attribution: str


SOURCES = {
    s.package: s
    for s in [
        Source(
            "wesnoth-1.16-music",
            "1:1.16.9-1",
            "GPL-2+",
            "Battle for Wesnoth soundtrack (various composers, see the package's copyright file)",
        ),
        Source(
            "ufoai-music",
            "2.5-2",
            "GPL-2+; some tracks CC-BY(-SA)-3.0 or public domain (per-file, see copyright)",
            "UFO: Alien Invasion soundtrack (various composers)",
        ),
        Source("nexuiz-music", "2.5.2-12", "GPL-2+", "Nexuiz soundtrack (Alientrap and contributors)"),
        Source(
            "fretsonfire-songs-muldjord",
            "2.dfsg-2.1",
            "CC-BY-SA-3.0 / GPL",
            "Frets on Fire songs by Lars Muldjord",
        ),
        Source(
            "fretsonfire-songs-sectoid", "1.dfsg-3.1", "CC-BY-SA-3.0 / GPL", "Frets on Fire songs by Sectoid"
        ),
        Source(
            "musescore-general-soundfont",
            "0.2.1-1",
            "MIT",
            "MuseScore General soundfont (S. Christian Collins; Steinway D piano, VSCO-2 CC0 strings)",
        ),
        Source("fluid-soundfont-gm", "3.1-5.3", "MIT", "Fluid R3 GM soundfont (Frank Wen)"),
        Source(
            "grandorgue-demo", "3.9.5-1", "GPL-2+ / CC-BY-SA-2.5", "GrandOrgue demo organ (recorded pipes)"
        ),
        Source(
            "asterisk-core-sounds-en-g722",
            "1.6.1-1",
            "CC-BY-SA-3.0",
            "Asterisk core sound prompts, English, voice of Allison Smith (Digium)",
        ),
        Source("klettres-data", "4:22.12.3-1", "GPL-2+", "KLettres spoken letters and syllables (KDE)"),
    ]
}


def deb_cache() -> Path:
    """Where downloaded and unpacked packages live; shared between suite roots so tests do not re-download."""
    env = os.environ.get("M2L2_DEB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "m2l2" / "debs"


def _apt_download(spec: str, folder: Path) -> bool:
    r = subprocess.run(["apt-get", "download", spec], cwd=folder, capture_output=True, text=True)
    return r.returncode == 0


@dataclass(frozen=True)
class Fetched:
    source: Source
    version: str  # the version actually used
    deb: Path
    sha256: str
    tree: Path  # the unpacked package


def fetch(package: str) -> Fetched:
    """Download (if needed) and unpack a package; returns where its files are."""
    src = SOURCES[package]
    cache = deb_cache()
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    pinned_name = f"{package}_{src.version}"
    deb = next((d for d in debs if d.name.replace("%3a", ":").startswith(pinned_name + "_")), None)
    if deb is None:
        if shutil.which("apt-get") is None:
            raise M2L2Error(
                f"the default suite needs a Debian package and apt-get is not available here ({package}): "
                "build on Debian/Ubuntu, or pass --root pointing to a suite built elsewhere"
            )
        if not _apt_download(f"{package}={src.version}", cache):
            log.warning(
                "warning: %s=%s is not in the archive; falling back to the candidate version (the "
                "manifest records it)",
                package,
                src.version,
            )
            if not _apt_download(package, cache):
                raise M2L2Error(
                    f"apt-get download failed ({package}, a package of Debian 12 main): run "
                    "`sudo apt-get update` and retry"
                )
        debs = sorted(cache.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
        deb = debs[-1]
    version = deb.name.split("_")[1].replace("%3a", ":")
    tree = cache / f"{package}_{version.replace(':', '_')}"
    if not (tree / ".complete").is_file():
        if shutil.which("dpkg-deb") is None:
            raise M2L2Error(
                f"dpkg-deb is needed to unpack Debian packages ({deb}): install it with "
                "`apt-get install dpkg`"
            )
        tmp = tree.with_name(tree.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        shutil.rmtree(tree, ignore_errors=True)
        tmp.rename(tree)
        (tree / ".complete").write_text(sha256_file(deb))
    return Fetched(src, version, deb, (tree / ".complete").read_text().strip(), tree)
