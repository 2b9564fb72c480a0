#!/usr/bin/env bash
# The original drucker 0.4.5 in its own virtualenv (cached), for the client compatibility test.
set -euo pipefail
python3 -c 'from benchmarks.peers import ensure_drucker045; ensure_drucker045()'
