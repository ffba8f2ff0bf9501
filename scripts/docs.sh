#!/usr/bin/env bash
# make docs / docs-serve / docs-check: MkDocs with the Material theme (scripts/tools.sh installs both
# into .tools/docs-venv on first use, pinned) over docs/ and mkdocs.yml.
#   build        build the site into site/ (git-ignored), strictly: a broken link or anchor, a page
#                missing from the navigation, or any other warning fails the build;
#   serve ADDR   serve it on ADDR, rebuilt as pages change;
#   check        the generated reference pages are what the code makes (scopegate-docs --check),
#                then the strict build (not --quiet: with it, mkdocs 1.6 lets warnings pass --strict).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/tools.sh
source scripts/tools.sh
CARGO=${CARGO:-cargo}

case "${1:-build}" in
    build) find_mkdocs; "$MKDOCS" build --strict --site-dir site ;;
    serve) find_mkdocs; "$MKDOCS" serve --strict --dev-addr "${2:-127.0.0.1:8000}" ;;
    check)
        "$CARGO" run --quiet --bin scopegate-docs -- --check \
            || die "the reference pages are stale: run \`make docs-reference\` and commit docs/reference/"
        find_mkdocs
        "$MKDOCS" build --strict --site-dir site
        say "docs: the reference pages are current and the site builds strictly"
        ;;
    *) die "usage: scripts/docs.sh build | serve [ADDR] | check" ;;
esac
