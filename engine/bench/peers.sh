#!/usr/bin/env bash
# The dedupe demo against the tools people use to find duplicates, on one
# warm tree, in one run, alternating: `dizzy demo dedupe`, `jdupes` and
# `fclones group`, each asked for the same answer (every regular file, empty
# files as one content, hard links as duplicates, symlinks not followed),
# and the answers checked to be identical sets of paths, and identical to
# the sets `sha256sum` gives over every regular file. Not run by CI.
#
#   engine/bench/peers.sh [DIR] [ROUNDS]      # default: /usr/share 5
#
# Installs what is missing: jdupes (apt), fclones (cargo install).
# Prints one JSON object: wall seconds of every round per tool, medians,
# the ratios dizzy/jdupes and dizzy/fclones, and whether the sets agree;
# exits 1 if they do not, 2 on a bad argument. Honours CARGO_TARGET_DIR.
set -euo pipefail

dir=${1:-/usr/share}
rounds=${2:-5}
here=$(cd "$(dirname "$0")/../.." && pwd)
usage="usage: engine/bench/peers.sh [DIR] [ROUNDS]  (default: /usr/share 5)"
if [ ! -d "$dir" ]; then
    echo "peers.sh: $dir is not a directory; $usage" >&2
    exit 2
fi
# Decimal, 1 to 999999 (a leading zero would make bash read octal).
if ! [[ "$rounds" =~ ^[1-9][0-9]{0,5}$ ]]; then
    echo "peers.sh: ROUNDS must be a whole number from 1 to 999999, not '$rounds'; $usage" >&2
    exit 2
fi
rounds=$((10#$rounds))

if ! command -v jdupes >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y jdupes >&2
fi
if ! command -v fclones >/dev/null; then
    cargo install fclones --locked >&2
fi
(cd "$here" && cargo build --release -p dizzy-tool >&2)
# Where cargo put it (CARGO_TARGET_DIR and .cargo/config move it).
target=$(cd "$here" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
dizzy="$target/release/dizzy"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_dizzy() {
    rm -f "$work/d.redb"
    "$dizzy" demo dedupe "$dir" --db "$work/d.redb" --json >"$work/dizzy.json"
}
run_jdupes() {
    # -H hard links are duplicates, -z so are empty files, -q no progress.
    # -0: names end with NUL and sets with a second one, as a name may
    # hold a newline.
    jdupes -r -H -z -q -0 "$dir" >"$work/jdupes.txt"
}
run_fclones() {
    # --hidden and --no-ignore: every file; --min 0: empty files too;
    # -H: hard links are duplicates.
    fclones group --hidden --no-ignore --min 0 -H "$dir" >"$work/fclones.txt" 2>/dev/null
}

now() { date +%s.%N; }
declare -A times
for tool in dizzy jdupes fclones; do
    "run_$tool" # warm the page cache and the tool
    times[$tool]=""
done
for ((i = 0; i < rounds; i++)); do
    for tool in dizzy jdupes fclones; do
        t0=$(now)
        "run_$tool"
        t1=$(now)
        times[$tool]+="$(awk "BEGIN { print $t1 - $t0 }") "
    done
done

# The reference answer (not timed): sha256sum of every regular file it can
# read (the tools set the others aside too); how many it could not is
# reported.
(cd "$dir" && find . -type f -print0 | xargs -0 sha256sum -z 2>"$work/sha256sum.err" ||
    [ $? = 123 ]) >"$work/sha256sum.txt"

python3 - "$dir" "$work" "${times[dizzy]}" "${times[jdupes]}" "${times[fclones]}" <<'EOF'
import json, os, re, statistics, sys

root, work = sys.argv[1], sys.argv[2]
times = {t: [float(x) for x in s.split()] for t, s in zip(["dizzy", "jdupes", "fclones"], sys.argv[3:6])}
# The root as given and with its symlinks resolved: fclones prints the
# resolved paths.
roots = {os.fsencode(os.path.abspath(root)).rstrip(b"/"), os.fsencode(os.path.realpath(root)).rstrip(b"/")}
root_b = os.fsencode(os.path.abspath(root)).rstrip(b"/")

def canon(sets):
    return sorted(sorted(s) for s in sets if len(s) > 1)

def rel(p):
    p = os.path.abspath(p) if not p.startswith(b"/") else p
    for r in roots:
        if p.startswith(r + b"/"):
            return p[len(r) + 1:]
    return p

report = json.load(open(os.path.join(work, "dizzy.json")))
# `names`: each path exactly, {"text": ...} or {"bytes": [...]}.
def name(n):
    return n["text"].encode() if "text" in n else bytes(n["bytes"])
dizzy = canon([[name(n) for n in s["names"]] for s in report["duplicate_sets"]])

# jdupes -0: each name ends with NUL, each set with one more.
jdupes = canon(
    [rel(p) for p in s.split(b"\0") if p]
    for s in open(os.path.join(work, "jdupes.txt"), "rb").read().split(b"\0\0")
)

# fclones: a line per set, then its names indented by four spaces, with
# \\, \n, \t, \r, \0, \xNN and \u{N} escaped (a trailing space is kept).
def fclones_name(b):
    def one(m):
        e = m.group(1)
        if e[:1] == b"x":
            return bytes([int(e[1:], 16)])
        if e[:1] == b"u":
            return chr(int(e[2:-1], 16)).encode()
        return {b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r", b"0": b"\0"}[e]
    return re.sub(rb"\\(\\|n|t|r|0|x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]+\})", one, b)
fclones, cur = [], None
for line in open(os.path.join(work, "fclones.txt"), "rb").read().split(b"\n"):
    if line.startswith(b"    "):
        cur.append(rel(fclones_name(line[4:])))
    elif line and not line.startswith(b"#"):
        cur = []
        fclones.append(cur)
fclones = canon(fclones)
def sha256sum_sets(path):
    groups = {}
    for record in open(path, "rb").read().split(b"\0"):
        if record:
            digest, name = record[:64], record[66:]
            groups.setdefault(digest, []).append(rel(os.path.join(root_b, name[2:] if name.startswith(b"./") else name)))
    return canon(groups.values())

sha256sum = sha256sum_sets(os.path.join(work, "sha256sum.txt"))
med = {t: statistics.median(v) for t, v in times.items()}
print(json.dumps({
    "dir": root,
    "files": report["files"],
    "bytes": report["bytes"],
    "duplicate_sets": len(dizzy),
    "rounds": len(times["dizzy"]),
    "seconds": times,
    "median_seconds": med,
    "dizzy_over_jdupes": round(med["dizzy"] / med["jdupes"], 3),
    "dizzy_over_fclones": round(med["dizzy"] / med["fclones"], 3),
    "targets": {
        "dizzy <= 0.7 * jdupes": med["dizzy"] <= 0.7 * med["jdupes"],
        "dizzy <= fclones": med["dizzy"] <= med["fclones"],
    },
    "same_sets_as_sha256sum": dizzy == sha256sum,
    "same_sets_as_jdupes": dizzy == jdupes,
    "same_sets_as_fclones": dizzy == fclones,
    "sets": {"dizzy": len(dizzy), "sha256sum": len(sha256sum), "jdupes": len(jdupes), "fclones": len(fclones)},
    "unreadable_for_sha256sum": sum(1 for l in open(os.path.join(work, "sha256sum.err"), "rb") if l.strip()),
}, indent=1))
# Answers that differ fail the run.
sys.exit(0 if dizzy == sha256sum == jdupes == fclones else 1)
EOF
