#!/bin/sh
# libmagic (the library of file(1)) detects uploads' media types (python-magic, halolight/storage/sniff.py).
# Present on most systems; installed here with apt-get when this is Debian or Ubuntu and we are root.
set -e
if python3 -c "import ctypes.util, sys; sys.exit(ctypes.util.find_library('magic') is None)" 2>/dev/null; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing libmagic1 with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libmagic1
    exit 0
fi
echo "libmagic is missing: install libmagic1 (Debian, Ubuntu), file-libs (Fedora) or libmagic (Homebrew)" >&2
exit 1
