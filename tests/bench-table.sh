# shellcheck shell=bash
# Puts a table between the markers <!-- BENCH:NAME:BEGIN --> and
# <!-- BENCH:NAME:END --> of docs/performance.md (NAME "" for the plain
# BENCH markers), adding them at the end the first time. Sourced by the
# benchmark scripts (tests/bench.sh, tests/peers.sh, tests/soak.sh, tests/aarch64.sh).
write_table() { # name table
    local marker=BENCH${1:+:$1}
    python3 - "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/docs/performance.md" "$marker" "$2" <<'PY'
import sys
path, marker, table = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
begin, end = f"<!-- {marker}:BEGIN -->", f"<!-- {marker}:END -->"
if begin not in text:
    text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
PY
}
