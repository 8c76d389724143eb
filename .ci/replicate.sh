# Sourced by .ci/run: a real S3-compatible server for the replication tests.
# Installs s3s-fs from crates.io (about 3 minutes on 2 cores, once per
# machine), starts it on a loopback port serving a temporary directory with
# one bucket, and exports where it is for the tests (tests/src/s3.rs).
# The server ends with this shell (or after 90 minutes, at the latest).

S3S_FS_VERSION=0.14.1
step "S3 server for the replication tests (s3s-fs $S3S_FS_VERSION)"
s3s_bin="$(command -v s3s-fs || true)"
if [ -z "$s3s_bin" ] || ! "$s3s_bin" --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; then
  # Its newest release needs a newer rustc than this toolchain.
  cargo install --locked --quiet s3s-fs --version "$S3S_FS_VERSION" --features binary
  s3s_bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
fi

DIZZY_TEST_S3_ROOT="$(mktemp -d -t dizzy-s3-XXXXXX)"
mkdir -p "$DIZZY_TEST_S3_ROOT/dizzy-test"
s3_port=""
for p in $(seq 9311 9350); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then s3_port=$p; break; fi
done
[ -n "$s3_port" ] || { echo "no free loopback port for s3s-fs" >&2; exit 1; }
timeout 5400 "$s3s_bin" --host 127.0.0.1 --port "$s3_port" \
  --access-key dizzy-ci --secret-key dizzy-ci-secret "$DIZZY_TEST_S3_ROOT" \
  >"$DIZZY_TEST_S3_ROOT.log" 2>&1 &
s3_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break
  kill -0 "$s3_pid" 2>/dev/null || { cat "$DIZZY_TEST_S3_ROOT.log" >&2; exit 1; }
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null \
  || { echo "s3s-fs did not start on 127.0.0.1:$s3_port" >&2; exit 1; }
echo "s3s-fs $S3S_FS_VERSION listening on 127.0.0.1:$s3_port (pid $s3_pid)"

s3_previous_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
trap "kill $s3_pid 2>/dev/null || true; rm -rf '$DIZZY_TEST_S3_ROOT' '$DIZZY_TEST_S3_ROOT.log'; $s3_previous_trap" EXIT

# The tests must find this server: they fail (not skip) without one, and
# skip only when DIZZY_TEST_S3=off.
export DIZZY_TEST_S3=on
export DIZZY_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
export DIZZY_TEST_S3_BUCKET=dizzy-test
export DIZZY_TEST_S3_ACCESS_KEY=dizzy-ci
export DIZZY_TEST_S3_SECRET_KEY=dizzy-ci-secret
export DIZZY_TEST_S3_ROOT
export DIZZY_TEST_S3FS="$s3s_bin"
