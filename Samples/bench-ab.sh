#!/bin/bash
# bench-ab.sh - the pipeline bench of an older commit against the working tree, fairly.
#
#   Samples/bench-ab.sh BASE [--pairs N] [-- BENCH-ARGUMENTS...]
#
# Builds the release programs of BASE (a commit, tag or branch) in a temporary git worktree and of
# the working tree, then runs `qrpay-bench pipeline` alternately (BASE, working tree, BASE, ...;
# --pairs, default 2), each run on a file system made for it: an ext4 image (with a journal, as a
# deployment's spool has) mounted on a loop device, unmounted and deleted afterwards. Prints each
# run's throughput rows and, at the end, the medians side by side with the change in per cent.
#
# Why fresh file systems: spools built one after the other on one disk are not alike. On ext4 a
# file system without a journal (this development machine's root) skips, for every new inode, the
# inodes deleted in the last minutes (ialloc.c: recently_deleted), so a run that follows the removal
# of another run's spool (hundreds of thousands of files) spends up to a third of its CPU looking
# for a free inode, and back-to-back runs favour whichever went first.
#
# Default bench arguments: --count 10000 --rounds 3 --scale 0 --watch-drops 200 --decode-count 0
# --zbarimg '' (plus --settle-open 0 where the bench has that row). Needs root (mount); AB_FS_SIZE
# (default 8G) sizes the file system, AB_IMAGE_DIR (default /var/tmp) holds its image.
# Not a test: the figures depend on the machine; run it on a quiet one.
set -eu
cd "$(dirname "$0")/.."

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-64}"; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage 0 ;; esac
base=$1; shift
pairs=2
while [ $# -gt 0 ]; do
    case "$1" in
        --pairs) [ $# -ge 2 ] || usage; pairs=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "bench-ab: unknown option $1 (bench arguments go after --)" >&2; exit 64 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench-ab: needs root, to mount a fresh file system for every run" >&2; exit 77; }
commit=$(git rev-parse --verify --quiet "$base^{commit}") || { echo "bench-ab: $base is not a commit here" >&2; exit 64; }
if [ $# -eq 0 ]; then set -- --count 10000 --rounds 3 --scale 0 --watch-drops 200 --decode-count 0 --zbarimg ''; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/qrpay-bench-ab.XXXXXX")
tree=$work/base
image=${AB_IMAGE_DIR:-/var/tmp}/qrpay-bench-ab.$$.img
mnt=$work/mnt
cleanup() {
    mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
    rm -f "$image"
    git worktree remove --force "$tree" 2>/dev/null || true
    rm -rf "$work"
    rm -f "${TMPDIR:-/tmp}/$(printf %s "$tree" | tr / _)"_.build*.lock  # SwiftPM's locks for the worktree
}
trap cleanup EXIT INT TERM

echo "bench-ab: building the working tree (release)" >&2
swift build -c release >&2
current=$(swift build -c release --show-bin-path)
echo "bench-ab: building $base (${commit:0:12}) in $tree (release)" >&2
git worktree add --detach "$tree" "$commit" >&2
(cd "$tree" && swift build -c release >&2)
old=$(cd "$tree" && swift build -c release --show-bin-path)

# One bench run on a new file system; its table goes to $work/NAME.table.
run() {
    local name=$1 bin=$2; shift 2
    local extra=()
    "$bin/qrpay-bench" pipeline --help | grep -q -- '--settle-open' && extra=(--settle-open 0)
    mkdir -p "$mnt"
    rm -f "$image"
    truncate -s "${AB_FS_SIZE:-8G}" "$image"
    mkfs.ext4 -q -F -i 4096 "$image"
    mount -o loop "$image" "$mnt"
    mkdir "$mnt/work"
    sync
    echo "bench-ab: $name on a new file system" >&2
    local status=0
    "$bin/qrpay-bench" pipeline "$@" "${extra[@]}" --work "$mnt/work" > "$work/$name.table" 2> "$work/$name.log" || status=$?
    umount "$mnt"
    rm -f "$image"
    if [ $status -ne 0 ]; then
        echo "bench-ab: $name failed (exit $status):" >&2
        tail -5 "$work/$name.log" >&2
        exit 70
    fi
    grep -E '^(register|approve|reference|--watch)' "$work/$name.table"
}

for i in $(seq "$pairs"); do
    run "base-$i" "$old" "$@"
    run "current-$i" "$current" "$@"
done

# Medians of the runs' medians: register, approve and reference (payments/s), and CPU per payment.
python3 - "$work" "$pairs" "$base" <<'EOF'
import re, statistics, sys
work, pairs, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [("register --once", "register payments/s"), ("approve --once", "approve approvals/s"),
        ("reference loop", "reference payments/s")]
def figures(name):
    text = open(f"{work}/{name}.table").read()
    out = {}
    for prefix, label in rows:
        m = re.search(r"^" + re.escape(prefix) + r".*?(\d+) \w+/s.*?CPU (\d+) us", text, re.M)
        if m:
            out[label] = float(m.group(1))
            out[label.split()[0] + " CPU us"] = float(m.group(2))
    return out
runs = {side: [figures(f"{side}-{i}") for i in range(1, pairs + 1)] for side in ("base", "current")}
print(f"\nbench-ab: medians of {pairs} run(s) each, every run on a new ext4")
print(f"{'measure':26} {base[:12]:>12} {'current':>12} {'change':>8}")
for key in runs["base"][0]:
    a = statistics.median(r[key] for r in runs["base"] if key in r)
    b = statistics.median(r[key] for r in runs["current"] if key in r)
    print(f"{key:26} {a:12.0f} {b:12.0f} {100 * (b - a) / a:+7.1f}%")
EOF
