#!/usr/bin/env bash
# Installs Debian's `ffmpeg` command line tool (the media benchmark's peer) when it is missing.
set -euo pipefail
command -v ffmpeg >/dev/null && exit 0
sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
echo "media bench: installing Debian ffmpeg (peer)" >&2
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
