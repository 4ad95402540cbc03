#!/bin/sh
# Install the Debian tools the project needs (idempotent): FluidSynth renders audio and mma writes the tags
# part's MIDI (default suite); chromium loads the listening report in its browser test (`m2l2 report --check`).
# Data packages are fetched by the build itself with `apt-get download` (no root needed).
set -e
PKGS="fluidsynth libfluidsynth3 mma dpkg chromium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "system dependencies present:$PKGS"
    exit 0
fi
CMD="apt-get install -y --no-install-recommends$missing || (apt-get update && apt-get install -y --no-install-recommends$missing)"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: install FluidSynth (library and CLI), mma and Chromium with your system's package manager" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo sh -c "$CMD"
        exit 0
    fi
    echo "not root: run   sudo sh -c '$CMD'" >&2
    exit 1
fi
sh -c "$CMD"
