#!/usr/bin/env bash
# The thin client against a large hub: `procreg call` wall time and peak RSS
# (wall: around /usr/bin/time -v, which gives the peak RSS) for one get_pid and for a paged match_tag, against a hub of ROWS rows
# of which TAGGED carry the tag "hot", next to the same process doing no request
# (`procreg call --list`: process start and exit, the floor of any call) measured in the same
# run; and the writer's snapshots served before and after (a thin call must serve none).
#
#   bench/thin_call.sh PROCREG [ROWS] [TAGGED] [RUNS]      (defaults 1000000 10000 5)
#
# Uses loopback ports 7461..7465 and a temporary directory; prints a Markdown table.
set -euo pipefail
procreg=${1:?usage: thin_call.sh PROCREG [ROWS] [TAGGED] [RUNS]}
rows=${2:-1000000}
tagged=${3:-10000}
runs=${4:-5}
dir=$(mktemp -d)
serve_pid=
cleanup() {
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$procreg" serve --log-dir "$dir/log" --hub big --durability none --janitor-ms 0 \
  --bus-frontend tcp://127.0.0.1:7461 --bus-backend tcp://127.0.0.1:7462 \
  --replay tcp://127.0.0.1:7463 --command tcp://127.0.0.1:7464 --stats tcp://127.0.0.1:7465 \
  --endpoints-file "$dir/endpoints.json" >"$dir/serve.out" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do [[ -s $dir/endpoints.json ]] && break; sleep 0.1; done
[[ -s $dir/endpoints.json ]] || { cat "$dir/serve.out"; exit 1; }

# The rows: bulk_insert lines of 1000 entries, through the command channel.
python3 - "$rows" "$tagged" >"$dir/load.jsonl" <<'PY'
import json, sys
rows, tagged = int(sys.argv[1]), int(sys.argv[2])
step = max(1, rows // tagged) if tagged else 0
for start in range(0, rows, 1000):
    entries = []
    for i in range(start, min(rows, start + 1000)):
        md = {"tag": "hot"} if step and i % step == 0 and i // step < tagged else {}
        entries.append({"spec": {"id": "c%d" % i, "start": ["Elixir.Worker", "start_link", []]},
                        "node_pids": [["n%d" % (i % 4), "<0.%d.0>" % i]], "metadata": md})
    print(json.dumps({"method": "bulk_insert", "args": {"entries": entries}}))
PY
t0=$(date +%s.%N)
"$procreg" call --endpoints "$dir/endpoints.json" --timeout-ms 60000 --batch "$dir/load.jsonl" \
  >/dev/null
t1=$(date +%s.%N)
served() { "$procreg" stats --endpoints "$dir/endpoints.json" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["server"]["snapshots_served"])'; }
before=$(served)

measure() {  # label, args...: best wall ms and best peak RSS MB over $runs runs
  local label=$1; shift
  local best_ms= best_kb=
  for _ in $(seq "$runs"); do
    local start end kb ms
    start=$(date +%s%N)
    /usr/bin/time -v "$@" >"$dir/out" 2>"$dir/time" || { cat "$dir/out" "$dir/time"; exit 1; }
    end=$(date +%s%N)
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/time")
    ms=$(python3 -c "print(round(($end - $start) / 1e6, 1))")
    if [[ -z $best_ms ]] || python3 -c "import sys; sys.exit(0 if $ms < $best_ms else 1)"; then best_ms=$ms; fi
    if [[ -z $best_kb ]] || (( kb < best_kb )); then best_kb=$kb; fi
  done
  printf '| %s | %s ms | %s MB |\n' "$label" "$best_ms" "$(python3 -c "print(round($best_kb/1024,1))")"
}
echo "hub of $rows rows ($tagged tagged \"hot\"), loaded in $(python3 -c "print(round($t1-$t0,1))") s through call --batch; best of $runs runs"
echo
echo "| call | wall | peak RSS |"
echo "|---|---:|---:|"
measure "procreg call --list (no request: the floor)" "$procreg" call --list
measure "procreg call get_pid" "$procreg" call --endpoints "$dir/endpoints.json" get_pid '{"child_id": "c500000"}'
measure "procreg call match_tag ($tagged rows, paged)" "$procreg" call --endpoints "$dir/endpoints.json" match_tag '{"tag": "hot"}'
python3 -c 'import json,sys; n=len(json.load(open(sys.argv[1]))); assert n == int(sys.argv[2]), n' "$dir/out" "$tagged"
after=$(served)
echo
echo "snapshots served by the writer: $before before the calls, $after after"
