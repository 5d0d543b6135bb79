#!/usr/bin/env bash
# ab.sh: two router binaries against each other, as issue 19's "try,
# measure, keep or drop" needs on a shared machine. It starts `router
# serve` (the default config: built-ins as plugin processes) from each
# binary on a free loopback port and runs the same `router bench` (OLD's)
# against the two in turn, PAIRS times, the order swapped every pair so
# that a change of machine load hits both alike. It prints one line a
# pair: req/s and p50 (µs) of each.
#
# Usage, from anywhere in the module:
#
#   internal/floor/ab.sh OLD_ROUTER NEW_ROUTER [PAIRS] [router bench flags...]
#
# for example, pipelined 64 × 16 for 2 s after 0.5 s of warmup, 4 pairs:
#
#   internal/floor/ab.sh /tmp/router-main ./router 4 -c 64 --depth 16 -d 2s --warmup 500ms
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 OLD_ROUTER NEW_ROUTER [PAIRS] [router bench flags...]" >&2; exit 2; }
old=$1 new=$2
shift 2
pairs=4
if [ $# -gt 0 ]; then pairs=$1; shift; fi
command -v jq >/dev/null || { echo "ab.sh: needs jq" >&2; exit 1; }
prog=ab.sh
# shellcheck source=internal/floor/servers.sh
source "$(dirname "$0")/servers.sh"

declare -A addr
for name in old new; do
	bin=$old
	[ $name = new ] && bin=$new
	start "$name" "$listening" "$bin" serve --listen 127.0.0.1:0 --watch=false
	addr[$name]=$found
done

run() { "$old" bench --json "$@" | jq -r '"\(.rate | floor) req/s (\(.latency_us.p50 | floor) µs)"'; }
for i in $(seq "$pairs"); do
	if [ $((i % 2)) = 1 ]; then
		o=$(run "$@" "${addr[old]}"); n=$(run "$@" "${addr[new]}")
	else
		n=$(run "$@" "${addr[new]}"); o=$(run "$@" "${addr[old]}")
	fi
	echo "pair $i: old $o, new $n"
done
