# Sourced by .ci/run (which defines `step` and sets -euo pipefail): what a
# new user of dizzy does, checked as they would do it.
#
# 1. A fresh crate: `cargo new` in a temporary directory outside the
#    workspace, the `[dependencies]` lines of the README's "Use it in your
#    crate" section (the path pointing at this checkout's engine/), the
#    section's program as src/main.rs, then `cargo run` twice: the first run
#    computes, the second resumes from the file the first one wrote.
#    Both snippets are cut out of README.md here, so they cannot drift.
# 2. `cargo package` of every crate meant for crates.io (the others say
#    `publish = false`): manifests, READMEs and file lists are complete.
#
# Both work offline once the workspace's dependencies are fetched
# (`cargo fetch`, from crates.io).

adopt_root="$(pwd)"

# The fenced block of language $2 that comes first after the heading $1
# in README.md, without its fences.
readme_block() {
  awk -v heading="$1" -v lang="$2" '
    $0 == heading { in_section = 1; next }
    in_section && /^## / { exit }
    in_section && !in_block && index($0, "```" lang) == 1 { in_block = 1; next }
    in_block && /^```/ { exit }
    in_block { print }
  ' "$adopt_root/README.md"
}

step "cargo fetch (the workspace's dependencies, for the offline steps)"
cargo fetch --quiet

step "a fresh crate that follows the README"
adopt_tmp="$(mktemp -d -t dizzy-fresh-XXXXXX)"
(
  cd "$adopt_tmp"
  cargo new --quiet --bin my-pipeline
  cd my-pipeline
  deps="$(readme_block '## Use it in your crate' toml)"
  program="$(readme_block '## Use it in your crate' 'rust')"
  [ -n "$deps" ] && [ -n "$program" ] || {
    echo "README.md: no toml or rust block under '## Use it in your crate'" >&2
    exit 1
  }
  # The README's path is relative to where the reader's checkout is; here
  # it is this checkout.
  printf '%s\n' "$deps" \
    | sed "s#path = \"\\.\\./dizzy/engine\"#path = \"$adopt_root/engine\"#" \
    | grep -v '^\[dependencies\]$' >>Cargo.toml
  grep -q "path = \"$adopt_root/engine\"" Cargo.toml || {
    echo "README.md: the dizzy line no longer says path = \"../dizzy/engine\"" >&2
    exit 1
  }
  printf '%s\n' "$program" >src/main.rs
  # Its own target directory (removed once the step is done).
  export CARGO_TARGET_DIR="$adopt_root/target/fresh-crate"
  first="$(cargo run --quiet --offline)"
  second="$(cargo run --quiet --offline)"
  printf 'first run:\n%s\nsecond run:\n%s\n' "$first" "$second"
  expected="sum of squares: 332833500"
  [ "$first" = "$expected" ] || { echo "first run printed something else" >&2; exit 1; }
  printf '%s\n' "$second" | head -1 | grep -q '^resumed from snapshot [0-9]' \
    || { echo "second run did not resume from the file" >&2; exit 1; }
  [ "$(printf '%s\n' "$second" | tail -1)" = "$expected" ] \
    || { echo "second run printed another sum" >&2; exit 1; }
  # No clap, indicatif, tracing-subscriber, signal-hook, sha2 or hecs in a user's
  # build.
  if cargo tree --offline -e normal --prefix none \
    | grep -E '^(clap|indicatif|tracing-subscriber|signal-hook|sha2|hecs) ' ; then
    echo "a fresh crate's build pulls a tool's dependency (above)" >&2
    exit 1
  fi
)
rm -rf "$adopt_tmp"
# The fresh crate's build (a GB) is not needed by the steps that follow.
rm -rf "$adopt_root/target/fresh-crate"

step "cargo package (every crate meant for crates.io)"
# The crates that say `publish = false` are left out (cargo package, unlike
# cargo publish, would try them too). --no-verify: a verify rebuilds every
# packaged crate from scratch (many minutes on 2 cores); the workspace build
# covers the same sources.
adopt_unpublished=(--exclude dizzy-demos --exclude dizzy-bench --exclude dizzy-tool
  --exclude dizzy-tests --exclude dizzy-examples)
cargo package --workspace "${adopt_unpublished[@]}" --no-verify --offline --allow-dirty --quiet
# Every packaged crate carries the README.
for crate in dizzy dizzy-components dizzy-systems dizzy-snapshots dizzy-cli \
  dizzy-explorer dizzy-replicate; do
  cargo package -p "$crate" --list --offline --allow-dirty 2>/dev/null | grep -qx README.md \
    || { echo "$crate: README.md is not in the package" >&2; exit 1; }
done
