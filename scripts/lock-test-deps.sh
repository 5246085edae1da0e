#!/usr/bin/env bash
# Refreshes constraints/test.txt, the exact set of packages the test suite is run with.
#
# Users install modpack with its lower bounds (pyproject.toml); CI and scripts/test.sh install the
# pinned set below, so no new release of pytest, hypothesis, schemathesis or anything under them can
# turn CI red overnight. To move to newer releases: run this script, run ./scripts/test.sh, and
# commit constraints/test.txt when the suite passes. Known-bad pairs are held back in pyproject.toml's
# test extra (an upper bound with the reason beside it), so a refresh cannot pick them.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
out="constraints/test.txt"
{
  echo "# The packages the test suite runs with (runtime and test tools), pinned. Made by"
  echo "# scripts/lock-test-deps.sh with $("$venv/bin/python" --version) on $(uname -m); used by scripts/test.sh."
  "$venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check | LC_ALL=C sort -f
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(grep -vc '^#' "$out") packages)"
