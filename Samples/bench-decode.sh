#!/bin/sh
# bench-decode.sh - QR-Pay's photo decoder against zxing-cpp and zbarimg (release build).
#
#   Samples/bench-decode.sh [--count N] [--per-category N] [--categories a,b] [--dir DIR] [--keep DIR]
#
# Makes N (default 40) photo-like 12 MP JPEGs of one payment QR code each (varied rotation, tilt,
# blur, noise, light, JPEG quality, code size), plus every image in DIR, and prints decode rate,
# median and p95 milliseconds per image for qrpay, zbarimg (one process per image) and zxing-cpp
# (PyPI bindings, `make benchdeps`), and the peak RSS of the decoding process. Then the category
# table: --per-category (default 6) 12 MP photos of every kind real phone photos have (many codes,
# rotations, gradients, shadows, versions up to 40, cylinders, heavy tilt, close-ups, blur, screens,
# low light, JPEG quality, EXIF orientation, glare, damage), codes read per category by QR-Pay (as
# shipped: zbar then zxing-cpp; and zbar alone), zxing-cpp and zbarimg. Not a test: numbers depend
# on the machine.
set -eu
cd "$(dirname "$0")/.."
BIN=$(swift build -c release --show-bin-path)
# --manifest-cache none: Package.swift adds programs by folder, which a cached manifest misses.
[ -x "$BIN/qrpay-bench" ] || swift build -c release --manifest-cache none --product qrpay-bench
case " $* " in *" --count "*) exec "$BIN/qrpay-bench" decode "$@" ;; esac
exec "$BIN/qrpay-bench" decode --count 40 "$@"
