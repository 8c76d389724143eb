#!/usr/bin/env bash
# What an open explorer costs a running app: `dizzy demo particles`
# (snapshot every tick) alone (`plain`); with `--serve` and a client asking
# for the timeline and the newest snapshot id every second, as the live
# page does (`polled`, curl); with a headless Chromium on the live timeline,
# which reloads when a snapshot lands (`timeline`); and with Chromium on
# the live page of the newest snapshot, which decodes each new snapshot's
# whole world (`snapshot`). Chromium's profile is kept in memory (/dev/shm)
# so that its own disk writes do not compete with the run's fsyncs. Runs
# alternate, ROUNDS times; prints one JSON object per run, then the medians
# and their ratios to the plain run.
#
#   cargo build --release -p dizzy-tool && engine/explorer/overhead.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${DIZZY:-target/release/dizzy}
ENTITIES=${ENTITIES:-100000}
TICKS=${TICKS:-300}
ROUNDS=${ROUNDS:-3}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
dir=$(mktemp -d)
profiles=$(mktemp -d -p /dev/shm)
trap 'rm -rf "$dir" "$profiles"' EXIT
results=$dir/results.jsonl

one() { # variant round
  local variant=$1 round=$2 db=$dir/p-$1-$2.redb page browser=""
  local args=(demo particles --entities "$ENTITIES" --ticks "$TICKS" --snapshot-every 1 --db "$db" --json)
  if [ "$variant" = plain ]; then
    "$BIN" "${args[@]}" >"$dir/out.json"
  else
    "$BIN" "${args[@]}" --serve 127.0.0.1:0 >"$dir/out.json" 2>"$dir/err" &
    local pid=$!
    local url=""
    for _ in $(seq 1 200); do
      url=$(sed -n 's/.*: explorer at \(http[^ ]*\).*/\1/p' "$dir/err" | head -1)
      [ -n "$url" ] && break
      sleep 0.05
    done
    case $variant in
      polled)
        (while kill -0 "$pid" 2>/dev/null; do
           curl -s -o /dev/null "$url"; curl -s -o /dev/null "${url}api/latest"; sleep 1
         done) &
        browser=$! ;;
      timeline|snapshot)
        page=$url
        [ "$variant" = snapshot ] && page=${url}snapshots/latest
        "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
          --disable-component-update --disable-sync --no-first-run --remote-debugging-port=0 \
          --user-data-dir="$profiles/$variant-$round" "$page" >/dev/null 2>&1 &
        browser=$! ;;
    esac
    wait "$pid"
    kill "$browser" 2>/dev/null || true
    wait "$browser" 2>/dev/null || true
  fi
  local snapshots
  snapshots=$("$BIN" snapshots --db "$db" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  python3 - "$variant" "$round" "$snapshots" "$dir/out.json" >>"$results" <<'PY'
import json, sys
variant, round_, snapshots, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
r = json.load(open(out))
ticks, ms = r["ticks_this_run"], r["run_ms"]
print(json.dumps({"variant": variant, "round": round_, "ticks": ticks, "run_ms": ms,
                  "ms_per_tick": round(ms / ticks, 3), "snapshots": snapshots,
                  "snapshots_per_s": round(snapshots / (ms / 1000), 2)}))
PY
  tail -1 "$results"
  rm -f "$db"
}

for round in $(seq 1 "$ROUNDS"); do
  for variant in plain polled timeline snapshot; do
    one "$variant" "$round"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for v in ("plain", "polled", "timeline", "snapshot"):
    rs = [r for r in runs if r["variant"] == v]
    med[v] = {k: statistics.median(r[k] for r in rs) for k in ("ms_per_tick", "snapshots_per_s")}
summary = {v: dict(med[v], ms_per_tick_ratio=round(med[v]["ms_per_tick"] / med["plain"]["ms_per_tick"], 3),
                   snapshots_per_s_ratio=round(med[v]["snapshots_per_s"] / med["plain"]["snapshots_per_s"], 3))
           for v in med}
print(json.dumps({"median": summary}))
PY
