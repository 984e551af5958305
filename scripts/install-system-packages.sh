#!/usr/bin/env bash
# Debian packages the GUI and its tests need: Xvfb and Mesa GL for napari/vispy without a display;
# dciodvfy (dicom3tools) to validate the SRs the tests write; Orthanc with its DICOMweb plugin, the
# real PACS the DICOMweb tests start on 127.0.0.1; PostgreSQL, the shared grading server the store's
# tests start on 127.0.0.1 (tests/pg_server.py).
# Installs only what is missing; does nothing when not root or not on a Debian-like system.
set -euo pipefail
pkgs=(xvfb xauth libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0
      libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0
      libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1 libglib2.0-0
      dicom3tools orthanc orthanc-dicomweb postgresql)
command -v dpkg-query >/dev/null || exit 0
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (install them as root): ${missing[*]}" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
