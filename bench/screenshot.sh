#!/usr/bin/env bash
# Full-page screenshot of an HTML file with headless Chromium (Debian's `chromium`).
#
#   bash bench/screenshot.sh INPUT.html OUTPUT.png [HEIGHT]
#
# The page is rendered 1400 px wide into a HEIGHT px tall window (default 16000: a page's height
# is not known in advance); where the real ImageMagick is installed, the blank band below the
# page is cut off. `make screenshot` runs it on the no-code report.
set -euo pipefail

WIDTH=1400
MARGIN=20  # pixels kept below the page's last non-blank row

usage() {
    echo "usage: bash $0 INPUT.html OUTPUT.png [HEIGHT]  (HEIGHT: window height in pixels, default 16000)" >&2
    exit 2
}

[[ $# -eq 2 || $# -eq 3 ]] || usage
input=$1
output=$2
height=${3:-16000}
[[ $height =~ ^[1-9][0-9]*$ ]] || usage
[[ -f $input ]] || { echo "$0: $input: no such file" >&2; exit 1; }
command -v chromium >/dev/null || { echo "$0: chromium not found (apt-get install chromium)" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$(dirname "$output")"
target=$(realpath -m "$output")
rm -f "$target"

# Chromium's stderr is noisy (D-Bus, GPU probes): keep it aside and show it only on failure.
if ! chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$scratch/profile" \
        --hide-scrollbars --virtual-time-budget=5000 --window-size="$WIDTH,$height" \
        --screenshot="$target" "file://$(realpath "$input")" >"$scratch/log" 2>&1 || [[ ! -s $target ]]; then
    cat "$scratch/log" >&2
    echo "$0: chromium wrote no screenshot" >&2
    exit 1
fi

# Cut the blank band at the bottom only: ImageMagick's trim box (%@, WxH+X+Y) gives the last used row.
if [[ $(convert -version 2>/dev/null || true) == "Version: ImageMagick"* ]]; then
    box=$(convert "$target" -format '%@' info:)
    if [[ $box =~ ^[0-9]+x([0-9]+)\+[0-9]+\+([0-9]+)$ ]]; then
        bottom=$(( BASH_REMATCH[1] + BASH_REMATCH[2] + MARGIN ))
        if (( bottom < height )); then
            convert "$target" -crop "${WIDTH}x${bottom}+0+0" +repage "$target"
        fi
    fi
fi
echo "wrote $output"
