#!/bin/sh
# bench-decode.sh - QR-Pay's photo decoder against zbarimg (release build).
#
#   Samples/bench-decode.sh [--count N] [--dir DIR] [--keep DIR]
#
# Makes N (default 40) photo-like 12 MP JPEGs of payment QR codes (varied rotation, tilt, blur,
# noise, light, JPEG quality, code size), plus every image in DIR, and prints decode rate, median
# and p95 milliseconds per image for qrpay and for zbarimg (one process per image), and the peak
# RSS of the decoding process. Not a test: numbers depend on the machine.
set -eu
cd "$(dirname "$0")/.."
BIN=$(swift build -c release --show-bin-path)
# --manifest-cache none: Package.swift adds programs by folder, which a cached manifest misses.
[ -x "$BIN/qrpay-bench" ] || swift build -c release --manifest-cache none --product qrpay-bench
case " $* " in *" --count "*) exec "$BIN/qrpay-bench" decode "$@" ;; esac
exec "$BIN/qrpay-bench" decode --count 40 "$@"
