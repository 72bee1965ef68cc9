#!/usr/bin/env bash
# The browser test's browser: Debian's chromium and chromium-driver (test tools cannot
# download their own browser here). A no-op when both are installed; where apt-get is
# not available or we are not root, says so and the browser test skips itself.
set -uo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "install-browser: no chromium/chromedriver and no root apt-get here: the browser" \
       "test will be skipped (apt-get install -y chromium chromium-driver)" >&2
  exit 0
fi
echo "install-browser: apt-get install -y chromium chromium-driver" >&2
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    chromium chromium-driver >/dev/null; } \
  || echo "install-browser: apt-get failed: the browser test will be skipped" >&2
exit 0
