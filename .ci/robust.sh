# Tools the robustness tests need (issue 12): strace holds a process between
# two system calls to open a race window on purpose
# (tests/tests/a_second_run_never_overwrites_committed_snapshots.rs).
if ! command -v strace >/dev/null 2>&1; then
  step "install strace"
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq strace >/dev/null) \
      || sudo sh -c 'apt-get update -qq && apt-get install -y -qq strace >/dev/null' \
      || echo "warning: could not install strace"
  fi
fi
