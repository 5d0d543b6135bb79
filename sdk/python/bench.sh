#!/usr/bin/env bash
# Benchmarks the Python search plugin (examples/python/search.py) behind
# the router, against the router's Go built-in search plugin and against
# the tutorial's Python app-server (testdata/python/reference_server.py):
# `router bench --mix search`, one-shot with 32 clients (a connection per
# request, as the tutorial's client) and keep-alive with 64 connections.
#
#   sdk/python/bench.sh [DURATION]     (default 10s a run, after 2s of warmup)
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

run() { # name shape flags...
	local name=$1 shape=$2
	shift 2
	printf '\n== %s, %s: router bench --mix search %s\n' "$name" "$shape" "$*"
	"$tmp/router" bench --mix search --warmup 2s -d "$d" "$@"
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for shape in one-shot keep-alive; do
	case $shape in
	one-shot) flags=(--one-shot -c 32) ;;
	keep-alive) flags=(-c 64) ;;
	esac
	run "Python plugin" $shape "${flags[@]}" 127.0.0.1:47401
	run "Go built-in plugin" $shape "${flags[@]}" 127.0.0.1:47402
	run "reference app-server" $shape "${flags[@]}" 127.0.0.1:47403
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
