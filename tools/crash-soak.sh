#!/usr/bin/env bash
# Soak test of crash safety: the crash suite's kill test (tests/crash/kill_test.cc) with many
# more kills. A writer process is killed with SIGKILL at random moments and restarted on its
# log, and every kill is followed by the full check (the log opens, the torn tail is reported,
# every acknowledged write is present, a replica converges). Stops at the first violation.
#
#   tools/crash-soak.sh [--build DIR] [--kills N] [--replica-kills N] [--seed S]
#
#   --build DIR          the build directory holding tests/crash_test       build
#   --kills N            kills of the writer without a replica              1000
#   --replica-kills N    kills of the writer followed by a replica           50
#   --seed S             the seed (default: a random one, printed)
#
# Prints the seed first and a progress line every 50 kills. Exit status: 0 if every check
# held, 1 on the first violation (with the seed, the kill and what failed), 2 on bad flags.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
kills=1000
replica_kills=50
snapshot_kills=300
seed=""
while (($#)); do
  case "$1" in
    --build) build="$2" ;;
    --kills) kills="$2" ;;
    --replica-kills) replica_kills="$2" ;;
    --snapshot-kills) snapshot_kills="$2" ;;
    --seed) seed="$2" ;;
    *) echo "crash-soak.sh: unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2 || { echo "crash-soak.sh: flag $1 needs a value" >&2; exit 2; }
done
for n in "$kills" "$replica_kills" "$snapshot_kills" ${seed:+"$seed"}; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "crash-soak.sh: '$n' is not a number" >&2; exit 2; }
done
[[ -n "$seed" ]] || seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
binary="$build/tests/crash_test"
[[ -x "$binary" ]] || { echo "crash-soak.sh: no $binary (build the project first)" >&2; exit 2; }

echo "crash soak: seed $seed, $kills kills, $replica_kills with a replica, $snapshot_kills" \
  "with snapshots and compaction"
if "$binary" --run_test=kill --log_level=message --report_level=short --color_output=no -- \
    --seed "$seed" --kills "$kills" --replica-kills "$replica_kills" \
    --snapshot-kills "$snapshot_kills"; then
  echo "crash soak passed: seed $seed"
else
  echo "crash soak FAILED: seed $seed (repeat: $0 --seed $seed --kills $kills" \
    "--replica-kills $replica_kills --snapshot-kills $snapshot_kills)" >&2
  exit 1
fi
