#!/usr/bin/env bash
# Benchmarks the Python search plugin (examples/python/search.py) behind
# the router, against the router's Go built-in search plugin and against
# the tutorial's Python app-server (testdata/python/reference_server.py):
# `router bench --mix search`, one-shot with 32 clients (a connection per
# request, as the tutorial's client) and keep-alive with 64 connections.
#
#   sdk/python/bench.sh [DURATION]     (default 10s a run, after a 2s run not counted)
#
# Besides bench's report, it gives the server's CPU time per request: all
# its processes', a router's plugins included, over the run.
#
# It needs python3 with Debian's python3-grpcio and python3-protobuf
# (PYTHON=/usr/bin/python3 by default) and listens on 127.0.0.1 ports
# 47401-47403. The servers it starts are stopped when it ends.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
d=${1:-10s}
py=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/router" ./cmd/router
cat > "$tmp/python.yaml" <<YAML
listen: ["tcp://127.0.0.1:47401"]
plugins:
  search: { cmd: "$py", args: ["$root/examples/python/search.py"] }
  binary: { cmd: "builtin:binary" }
routes:
  - { content_type: text/json, plugin: search }
  - { plugin: binary }
log: { level: warn }
YAML
sed -e 's/47401/47402/' -e "s|{ cmd: \"$py\", args: \[\"$root/examples/python/search.py\"\] }|{ cmd: \"builtin:search\" }|" \
	"$tmp/python.yaml" > "$tmp/go.yaml"

"$tmp/router" serve --config "$tmp/python.yaml" > "$tmp/python.log" 2>&1 & pids+=($!)
"$tmp/router" serve --config "$tmp/go.yaml" > "$tmp/go.log" 2>&1 & pids+=($!)
"$py" testdata/python/reference_server.py 127.0.0.1 47403 > /dev/null 2>&1 & pids+=($!)
for port in 47401 47402 47403; do
	for _ in $(seq 100); do
		"$tmp/router" send --addr 127.0.0.1:$port search morpheus > /dev/null 2>&1 && break
		sleep 0.1
	done
done

# cpu PID...: the CPU time, in clock ticks, of the processes and their
# children (a router's plugins).
cpu() {
	local total=0 p
	for p in "$@" $(cat $(printf '/proc/%s/task/*/children ' "$@") 2>/dev/null); do
		total=$((total + $(awk '{print $14+$15}' "/proc/$p/stat")))
	done
	echo "$total"
}
tick=$(getconf CLK_TCK)

run() { # name pid shape flags...
	local name=$1 pid=$2 shape=$3
	shift 3
	printf '\n== %s, %s: router bench --mix search %s\n' "$name" "$shape" "$*"
	local before out after n
	"$tmp/router" bench --mix search --warmup 0s -d 2s "$@" > /dev/null # warmup
	before=$(cpu "$pid")
	out=$("$tmp/router" bench --mix search --warmup 0s -d "$d" "$@")
	after=$(cpu "$pid")
	echo "$out"
	n=$(awk '/^requests /{print $2}' <<<"$out")
	echo "server CPU (its processes, plugins included): $(((after - before) * 1000000 / tick / n)) µs/req"
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for shape in one-shot keep-alive; do
	case $shape in
	one-shot) flags=(--one-shot -c 32) ;;
	keep-alive) flags=(-c 64) ;;
	esac
	run "Python plugin" "${pids[0]}" $shape "${flags[@]}" 127.0.0.1:47401
	run "Go built-in plugin" "${pids[1]}" $shape "${flags[@]}" 127.0.0.1:47402
	run "reference app-server" "${pids[2]}" $shape "${flags[@]}" 127.0.0.1:47403
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
