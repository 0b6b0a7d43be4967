#!/usr/bin/env bash
# Soak test of failover: tests/cli/failover_test.py (by hand) or, with --election,
# tests/cli/election_test.py (automatic, on etcd), with many more rounds. Each round kills
# (SIGKILL) or pauses (SIGSTOP, then SIGCONT once another writer took over) the writer while two
# clients write; the most complete of two standbys becomes the writer (`procreg promote`, or
# etcd's election); every acknowledged write must be on the new writer, and the old writer's
# directory becomes a standby of the new one. Stops at the first violation. With --election it
# ends with the time from each writer's death to the first write its successor acknowledged
# (median and max).
#
#   tools/failover-soak.sh [--election] [--build DIR] [--rounds N] [--seed S]
#
#   --election    automatic failover on etcd (Debian's etcd-server), lease TTL 1 s
#   --build DIR   the build directory holding tools/procreg/procreg   build
#   --rounds N    rounds of failover (about 2.8 s each; 4 s with --election)   500
#   --seed S      the seed of the kill timing (default: a random one, printed)
#
# Exit status: 0 if every round held, 1 on the first violation, 2 on bad flags.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
rounds=500
seed=""
test=failover_test.py
while (($#)); do
  case "$1" in
    --election) test=election_test.py; shift; continue ;;
    --build) build="$2" ;;
    --rounds) rounds="$2" ;;
    --seed) seed="$2" ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2
done
seed=${seed:-$RANDOM}
echo "failover soak ($test): $rounds rounds, seed $seed"
python3=/usr/bin/python3
[[ -x $python3 ]] || python3=python3
exec "$python3" "tests/cli/$test" --procreg "$build/tools/procreg/procreg" \
  --rounds "$rounds" --seed "$seed"
