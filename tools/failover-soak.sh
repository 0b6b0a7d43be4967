#!/usr/bin/env bash
# Soak test of failover by hand: tests/cli/failover_test.py with many more rounds. Each round
# kills (SIGKILL) or pauses (SIGSTOP, then SIGCONT after the promotion) the writer while two
# clients write, promotes the most complete of two standbys with `procreg promote`, checks that
# every acknowledged write is on the new writer, and turns the old writer's directory into a
# standby of the new one. Stops at the first violation.
#
#   tools/failover-soak.sh [--build DIR] [--rounds N] [--seed S]
#
#   --build DIR   the build directory holding tools/procreg/procreg   build
#   --rounds N    rounds of failover (about 2.8 s each)               500
#   --seed S      the seed of the kill timing (default: a random one, printed)
#
# Exit status: 0 if every round held, 1 on the first violation, 2 on bad flags.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
rounds=500
seed=""
while (($#)); do
  case "$1" in
    --build) build="$2" ;;
    --rounds) rounds="$2" ;;
    --seed) seed="$2" ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2
done
seed=${seed:-$RANDOM}
echo "failover soak: $rounds rounds, seed $seed"
python3=/usr/bin/python3
[[ -x $python3 ]] || python3=python3
exec "$python3" tests/cli/failover_test.py --procreg "$build/tools/procreg/procreg" \
  --rounds "$rounds" --seed "$seed"
