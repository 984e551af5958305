#!/usr/bin/env bash
# `make demo`: the reading room on sample_dicoms/ (the synthetic export).
# With a display: opens napari. Without one: renders the first case under xvfb-run and saves
# reading_room.png (the window as the radiologist would see it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"
FOLDER="${1:-sample_dicoms}"

if [ ! -d "$FOLDER" ] || [ -z "$(ls -A "$FOLDER" 2>/dev/null)" ]; then
  echo "demo: $FOLDER is missing or empty (it is part of the repository; git checkout it)" >&2
  exit 1
fi

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$BIN/spondy-annotate" open "$FOLDER"
fi

if ! command -v xvfb-run >/dev/null; then
  echo "demo: no display and no xvfb-run (run scripts/install-system-packages.sh as root)" >&2
  exit 1
fi
PNG="$PWD/reading_room.png"
xvfb-run -a -s "-screen 0 1920x1080x24" "$BIN/spondy-annotate" open "$FOLDER" --screenshot "$PNG"
echo "demo: no display, so the reading room was rendered off-screen: $PNG"
