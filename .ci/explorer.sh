# Sourced by .ci/run: the explorer's browser tests drive Debian's Chromium
# through chromedriver (tests/src/browser.rs expects /usr/bin/chromium and
# /usr/bin/chromedriver).
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  step "install chromium and chromium-driver"
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
      || sudo sh -c 'apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null' \
      || echo "warning: could not install chromium and chromium-driver; the explorer's browser tests will fail"
  fi
fi
