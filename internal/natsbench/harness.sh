#!/usr/bin/env bash
# harness.sh: issue 17's benchmarks, NATS routes and workers. It builds the
# router once and, all on free loopback ports, each server its own process
# and the load `router bench --json` in its own process:
#
# Part 1, a NATS route against a local plugin, the same handler (the
# built-in search, a plugin process in both):
#
#   local   router serve, route {plugin: search}
#   nats    router serve with the embedded NATS server, route
#           {nats: bench.search}, and one `router worker` serving
#           bench.search with the plugin search
#
# both up at once and benched in turn (local, then nats) for each shape:
# keep-alive 64, pipelined 64 × 16, one connection. It prints req/s and
# p50 of each, and nats / local.
#
# Part 2, scaling: router serve with the route {nats: bench.slow} and 1, 2
# then 4 workers, each with worker.max_in_flight 1 and the built-in soak
# plugin, whose action "slow" waits the duration of its value: a fixed
# service time of --service (2ms). The load is --scale-conns (16)
# connections of one request each, `router bench --action slow --value
# 2ms`. It prints req/s and the ratio to one worker. Workers 2 to 4 are
# stopped (SIGTERM) after each round.
#
# Usage, from anywhere in the module:
#
#   internal/natsbench/harness.sh [-d 3s] [--warmup 1s] [--rounds 1] [--service 2ms] [--scale-conns 16]
#
# Every server is stopped at the end, even on failure; the harness fails
# if a run saw an error answer or a broken connection.
set -euo pipefail
shopt -s inherit_errexit

dur=3s warmup=1s rounds=1 service=2ms sconns=16
while [ $# -gt 0 ]; do
	case "$1" in
	-d | --duration) dur=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--service) service=$2; shift 2 ;;
	--scale-conns) sconns=$2; shift 2 ;;
	*) echo "usage: $0 [-d DURATION] [--warmup DURATION] [--rounds N] [--service DURATION] [--scale-conns N]" >&2; exit 2 ;;
	esac
done
command -v jq >/dev/null || { echo "harness.sh: needs jq" >&2; exit 1; }

cd "$(dirname "$0")/../.."
prog=harness.sh
# shellcheck source=internal/floor/servers.sh
source internal/floor/servers.sh

echo "building router..." >&2
go build -o "$tmp/router" ./cmd/router
R=$tmp/router

# serve NAME CONFIG: starts router serve on CONFIG and sets addr[NAME] to
# its address, and nats[NAME] to its embedded NATS server's, if any.
declare -A addr=() nats=()
serve() {
	local name=$1 cfg=$2
	start "$name" '.*router.server: listening: addr=\([^ ]*\).*' "$R" serve -c "$cfg" --listen 127.0.0.1:0 --watch=false
	addr[$name]=$found
	nats[$name]=$(sed -n 's/.*embedded NATS server listening: addr=\([^ ]*\).*/\1/p' "$tmp/$name.log" | head -1)
	echo "$name listening on ${addr[$name]}${nats[$name]:+, NATS on ${nats[$name]}}" >&2
}

# worker NAME CONFIG URL: starts router worker on CONFIG, connected to URL,
# and waits until it serves.
worker() {
	local name=$1 cfg=$2 url=$3
	ROUTER_NATS_URL=$url start "$name" '.*\(worker serving\).*' "$R" worker -c "$cfg" --watch=false
	echo "$name serving" >&2
}

# stop NAME: stops a server or worker gracefully.
stop() {
	kill -TERM "${pid[$1]}" 2>/dev/null || true
	wait "${pid[$1]}" 2>/dev/null || true
	unset "pid[$1]"
}

# bench NAME LABEL ARGS...: runs router bench against server NAME and
# prints "rate p50_us".
bench() {
	local name=$1 label=$2
	shift 2
	local out="$tmp/$label.json"
	timeout 120 "$R" bench --json -d "$dur" --warmup "$warmup" "$@" "${addr[$name]}" >"$out" || {
		echo "harness.sh: router bench against $name ($label) failed" >&2
		return 1
	}
	local e
	e=$(jq -r '.errors_total' "$out")
	if [ "$e" != 0 ]; then
		echo "  $label: $e errors: $(jq -c '.errors' "$out")" >&2
		echo "$e" >>"$tmp/errors"
	fi
	jq -r '"\(.rate) \(.latency_us.p50)"' "$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
cell() { awk -v r="$1" -v p="$2" 'BEGIN { printf "%.0f (%.0f µs)", r, p }'; }

cat >"$tmp/local.yaml" <<'EOF'
plugins:
  search: { cmd: "builtin:search" }
routes:
  - { action: search, plugin: search }
EOF
cat >"$tmp/nats.yaml" <<'EOF'
nats: { embedded: { listen: "127.0.0.1:0" } }
plugins: {}
routes:
  - { action: search, nats: bench.search }
  - { action: slow, nats: bench.slow }
EOF
cat >"$tmp/search-worker.yaml" <<'EOF'
nats: { url: "nats://127.0.0.1:4222" }
plugins:
  search: { cmd: "builtin:search" }
worker:
  endpoints:
    - { subject: bench.search, plugin: search }
EOF
cat >"$tmp/slow-worker.yaml" <<'EOF'
nats: { url: "nats://127.0.0.1:4222" }
plugins:
  soak: { cmd: "builtin:soak" }
worker:
  max_in_flight: 1
  endpoints:
    - { subject: bench.slow, plugin: soak }
EOF

serve local "$tmp/local.yaml"
serve nats "$tmp/nats.yaml"
url=nats://${nats[nats]}
worker search "$tmp/search-worker.yaml" "$url"

declare -A shapes=([keep-alive]="-c 64" [pipelined]="-c 64 --depth 16" [one-conn]="-c 1")
declare -A titles=([keep-alive]="keep-alive 64" [pipelined]="pipelined 64 × 16" [one-conn]="one connection")

echo
echo "| shape | local plugin req/s (p50) | NATS route + 1 worker req/s (p50) | NATS / local |"
echo "|---|---|---|---|"
for shape in keep-alive pipelined one-conn; do
	for round in $(seq "$rounds"); do
		title=${titles[$shape]}
		[ "$rounds" = 1 ] || title="$title, round $round"
		echo "  $shape, round $round..." >&2
		# shellcheck disable=SC2086 # the shape's flags are words
		read -r lr lp <<<"$(bench local "local.$shape.$round" --mix search ${shapes[$shape]})"
		# shellcheck disable=SC2086
		read -r nr np <<<"$(bench nats "nats.$shape.$round" --mix search ${shapes[$shape]})"
		echo "| $title | $(cell "$lr" "$lp") | $(cell "$nr" "$np") | $(ratio "$nr" "$lr") |"
	done
done
stop search
stop local

echo
echo "| round | 1 worker req/s (p50) | 2 workers req/s (p50) | 4 workers req/s (p50) | 2 / 1 | 4 / 1 |"
echo "|---|---|---|---|---|---|"
for round in $(seq "$rounds"); do
	declare -A rate=() p50=()
	for n in 1 2 4; do
		for i in $(seq "$n"); do
			[ -n "${pid[slow$i]:-}" ] || worker "slow$i" "$tmp/slow-worker.yaml" "$url"
		done
		echo "  scaling, round $round: $n workers..." >&2
		read -r "rate[$n]" "p50[$n]" <<<"$(bench nats "slow.$n.$round" --action slow --value "$service" -c "$sconns")"
	done
	for i in 2 3 4; do stop "slow$i"; done
	echo "| $round | $(cell "${rate[1]}" "${p50[1]}") | $(cell "${rate[2]}" "${p50[2]}") | $(cell "${rate[4]}" "${p50[4]}") | $(ratio "${rate[2]}" "${rate[1]}") | $(ratio "${rate[4]}" "${rate[1]}") |"
done

echo
echo "p50 is per request, except pipelined: per batch of 16. -d $dur, --warmup $warmup; scaling: --service $service, $sconns connections, max_in_flight 1; $(nproc) cores, $(go env GOVERSION)."
errs=$(awk '{ n += $1 } END { print n + 0 }' "$tmp/errors" 2>/dev/null || echo 0)
if [ "$errs" != 0 ]; then
	echo "harness.sh: $errs error answers or broken connections in all" >&2
	exit 1
fi
