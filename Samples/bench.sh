#!/bin/sh
# QR-Pay's bench (`make bench`): builds the release programs, then runs every measurement of
# `qrpay-bench pipeline` and prints one table with the targets beside the figures: register and
# approve throughput against an in-process reference loop, a spool with 1,000,000 payments already
# registered (building it takes a few minutes and about 13 GB and 3 M inodes in $TMPDIR; it is
# removed afterwards), --watch latency and the photo decode rows. Arguments go to
# `qrpay-bench pipeline` (e.g. --count 5000 --scale 100000, or --quick for a functional check).
set -eu
cd "$(dirname "$0")/.."
swift build -c release >&2
exec .build/release/qrpay-bench pipeline "$@"
