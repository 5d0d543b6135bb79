#!/usr/bin/env bash
# harness.sh: issue 19's process-level harness. It builds the router and
# the framed-echo floor (go run ./internal/floor) once, starts three
# servers on free loopback ports, each in its own process:
#
#   floor        the framed echo, no JSON work
#   serve        router serve, the default config (built-ins as plugins)
#   in-process   router serve --in-process
#
# and, for each load shape in turn, runs `router bench` (its own process)
# against the three one after the other, with the same load. It prints a
# Markdown table of req/s and p50 per server, and the ratios serve/floor,
# in-process/floor and serve/in-process (for one connection, also the
# p50 the plugin path adds), the context switches per request of each
# server's process and its plugin processes (every thread's, from
# /proc), the CPU time per request of each server (its plugin processes
# included) and of the load generator, and for one-shot the ratio of
# serve to the tutorial's own Python server
# (testdata/python/reference_server.py), when python3 is here. The
# servers are stopped at the end, even on failure.
#
# Usage, from anywhere in the module:
#
#   internal/floor/harness.sh [-d 3s] [--warmup 1s] [--mix search] [--rounds 1]
#
# With --rounds N, each shape is measured N times in a row (the three
# servers in turn each time), one table row a round: one round on a busy
# machine is noise (one connection's p50 has been seen to jump from 9 to
# 75 µs between runs of the same server).
#
# The shapes: pipelined (64 connections x 16 in flight), keep-alive (64
# connections, 1 in flight), one connection, one-shot (32 clients, a new
# connection per request). Each run lasts -d after --warmup, so the whole
# harness takes about 12 x rounds x (d + warmup) plus the build.
#
# At the end it prints issue 19's targets, each with the range measured
# over the rounds and "met" when every round met it. With --check, it
# exits 3 if one was missed.
set -euo pipefail
shopt -s inherit_errexit

dur=3s warmup=1s mix=search rounds=1 check=false
while [ $# -gt 0 ]; do
	case "$1" in
	-d | --duration) dur=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	--mix) mix=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--check) check=true; shift ;;
	*) echo "usage: $0 [-d DURATION] [--warmup DURATION] [--mix LIST] [--rounds N] [--check]" >&2; exit 2 ;;
	esac
done
command -v jq >/dev/null || { echo "harness.sh: needs jq" >&2; exit 1; }

cd "$(dirname "$0")/../.."
prog=harness.sh
# shellcheck source=internal/floor/servers.sh
source internal/floor/servers.sh

echo "building router and floor..." >&2
go build -o "$tmp/router" ./cmd/router
go build -o "$tmp/floor" ./internal/floor

# serve NAME CMD...: starts a server and sets addr[NAME] to its address.
declare -A addr
serve() {
	local name=$1
	shift
	start "$name" "$listening" "$@"
	addr[$name]=$found
	echo "$name listening on $found" >&2
}

serve floor "$tmp/floor" -listen 127.0.0.1:0
serve serve "$tmp/router" serve --listen 127.0.0.1:0 --watch=false
serve inproc "$tmp/router" serve --in-process --listen 127.0.0.1:0 --watch=false

# The tutorial's own server (testdata/python/reference_server.py, one
# request per connection), for the one-shot shape, when python3 is here.
python=""
if command -v python3 >/dev/null; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	python3 testdata/python/reference_server.py 127.0.0.1 "$port" >"$tmp/python.log" 2>&1 &
	pid[python]=$!
	for _ in $(seq 100); do grep -q "Listening on" "$tmp/python.log" && break; sleep 0.05; done
	if grep -q "Listening on" "$tmp/python.log"; then
		addr[python]=127.0.0.1:$port
		python=python
		echo "python reference server listening on ${addr[python]}" >&2
	else
		echo "harness.sh: the Python reference server did not start; one-shot runs without it" >&2
	fi
fi

# switches PID: the context switches so far of every thread of PID and of
# its descendants (a router's plugin processes).
switches() {
	local total=0 p
	for p in $1 $(pgrep -P "$1" 2>/dev/null || true); do
		total=$((total + $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }')))
	done
	echo "$total"
}

# ticks PID: the CPU time (user + system, in clock ticks) so far of PID
# and of its children (a router's plugin processes).
ticks() {
	local total=0 p
	for p in $1 $(pgrep -P "$1" 2>/dev/null || true); do
		total=$((total + $(awk '{ print $14 + $15 }' /proc/"$p"/stat 2>/dev/null || echo 0)))
	done
	echo "$total"
}
hz=$(getconf CLK_TCK)

# bench NAME SHAPE ARGS...: runs the load against server NAME and prints
# "rate p50_us errors switches cpu_us loadgen_cpu_us": switches and CPU
# time per request of the server (its plugin processes included) and CPU
# time per request of the load generator.
bench() {
	local name=$1 shape=$2
	shift 2
	local out="$tmp/$name.$shape.json"
	local before cpu0 lg
	before=$(switches "${pid[$name]}")
	cpu0=$(ticks "${pid[$name]}")
	# bash's time gives the load generator's own CPU seconds.
	lg=$( { TIMEFORMAT='%U %S'; time timeout 120 "$tmp/router" bench --json --mix "$mix" -d "$dur" --warmup "$warmup" "$@" "${addr[$name]}" >"$out" 2>"$tmp/bench.err"; } 2>&1) || {
		echo "harness.sh: router bench against $name ($shape) failed:" >&2
		cat "$tmp/bench.err" >&2
		return 1
	}
	local sw=$(($(switches "${pid[$name]}") - before))
	local cpu=$(($(ticks "${pid[$name]}") - cpu0))
	# Per request: bench does not count the warmup's requests, so they
	# are taken at the counted rate.
	jq -r --argjson sw "$sw" --argjson w "$(secs "$warmup")" --argjson cpu "$cpu" --argjson hz "$hz" \
		--argjson lg "$(awk -v t="$lg" 'BEGIN { split(t, a, " "); print a[1] + a[2] }')" \
		'(.requests + .rate * $w) as $n | "\(.rate) \(.latency_us.p50) \(.errors_total) \($sw / $n) \($cpu / $hz * 1e6 / $n) \($lg * 1e6 / $n)"' "$out"
}

# secs DURATION: a duration such as 3s, 500ms or 1m in seconds.
secs() {
	awk -v d="$1" 'BEGIN {
		if (d ~ /ms$/) { sub(/ms$/, "", d); print d / 1000 }
		else if (d ~ /m$/) { sub(/m$/, "", d); print d * 60 }
		else { sub(/s$/, "", d); print d + 0 }
	}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

declare -A shapes=(
	[pipelined]="-c 64 --depth 16"
	[keep-alive]="-c 64"
	[one-conn]="-c 1"
	[one-shot]="-c 32 --one-shot"
)
declare -A titles=(
	[pipelined]="pipelined 64 × 16"
	[keep-alive]="keep-alive 64"
	[one-conn]="one connection"
	[one-shot]="one-shot 32 clients"
)

echo
echo "| shape | floor req/s (p50) | serve req/s (p50) | in-process req/s (p50) | serve / floor | in-process / floor | serve / in-process | switches per request: floor, serve, in-process | CPU µs per request, server + load generator: floor, serve, in-process | serve / Python reference |"
echo "|---|---|---|---|---|---|---|---|---|---|"
# measured[KEY] gathers a figure's value in each round, for the targets.
declare -A measured=()
# measure KEY VALUE: adds a round's value of a figure.
measure() { measured[$1]="${measured[$1]:-} $2"; }
quotient() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print 0 }'; }

errs=0
for shape in pipelined keep-alive one-conn one-shot; do
for round in $(seq "$rounds"); do
	declare -A rate=() p50=() sw=() cpu=() lgcpu=()
	title=${titles[$shape]}
	[ "$rounds" = 1 ] || title="$title, round $round"
	names="floor serve inproc"
	# The reference answers one request per connection: one-shot only.
	[ "$shape" = one-shot ] && names="$names $python"
	for name in $names; do
		echo "  $shape, round $round: $name..." >&2
		# shellcheck disable=SC2086 # the shape's flags are words
		res=$(bench "$name" "$shape" ${shapes[$shape]})
		read -r r p e w c l <<<"$res"
		rate[$name]=$r
		p50[$name]=$p
		sw[$name]=$w
		cpu[$name]=$c
		lgcpu[$name]=$l
		if [ "$e" != 0 ]; then
			echo "  $shape: $name: $e errors (see router bench --json)" >&2
			errs=$((errs + e))
		fi
	done
	cell() { awk -v r="${rate[$1]}" -v p="${p50[$1]}" 'BEGIN { printf "%.0f (%.0f µs)", r, p }'; }
	extra=""
	if [ "$shape" = one-conn ]; then
		extra=$(awk -v a="${p50[serve]}" -v b="${p50[inproc]}" 'BEGIN { printf ", p50 %+.0f µs", a - b }')
	fi
	switched=$(awk -v a="${sw[floor]}" -v b="${sw[serve]}" -v c="${sw[inproc]}" 'BEGIN { printf "%.3f, %.3f, %.3f", a, b, c }')
	cpus() { awk -v s="${cpu[$1]}" -v l="${lgcpu[$1]}" 'BEGIN { printf "%.1f + %.1f", s, l }'; }
	py="-"
	if [ -n "${rate[python]:-}" ]; then
		py="$(ratio "${rate[serve]}" "${rate[python]}") ($(cell python), $(cpus python) µs CPU)"
	fi
	measure "$shape/serve-floor" "$(quotient "${rate[serve]}" "${rate[floor]}")"
	measure "$shape/inproc-floor" "$(quotient "${rate[inproc]}" "${rate[floor]}")"
	measure "$shape/serve-inproc" "$(quotient "${rate[serve]}" "${rate[inproc]}")"
	measure "$shape/extra-p50" "$(awk -v a="${p50[serve]}" -v b="${p50[inproc]}" 'BEGIN { print a - b }')"
	[ -n "${rate[python]:-}" ] && measure "$shape/serve-python" "$(quotient "${rate[serve]}" "${rate[python]}")"
	echo "| $title | $(cell floor) | $(cell serve) | $(cell inproc) | $(ratio "${rate[serve]}" "${rate[floor]}") | $(ratio "${rate[inproc]}" "${rate[floor]}") | $(ratio "${rate[serve]}" "${rate[inproc]}")$extra | $switched | $(cpus floor), $(cpus serve), $(cpus inproc) | $py |"
done
done
echo
echo "p50 is per request, except pipelined: per batch of 16. -d $dur, --warmup $warmup, --mix $mix; $(nproc) cores, $(go env GOVERSION)."

# Issue 19's targets: KEY OP THRESHOLD UNIT TEXT, OP ge (at least) or le
# (at most); met when every round met it.
targets=(
	"pipelined/serve-floor ge 0.45 x serve / floor, pipelined"
	"keep-alive/serve-floor ge 0.75 x serve / floor, keep-alive"
	"pipelined/inproc-floor ge 0.75 x in-process / floor, pipelined"
	"keep-alive/inproc-floor ge 0.9 x in-process / floor, keep-alive"
	"pipelined/serve-inproc ge 0.6 x serve / in-process, pipelined"
	"keep-alive/serve-inproc ge 0.85 x serve / in-process, keep-alive"
	"one-conn/extra-p50 le 40 µs one connection, the plugin path's extra p50"
	"one-shot/serve-python ge 1.5 x one-shot, serve / the tutorial's Python server"
)
# bound OP THRESHOLD UNIT: the target as text, such as "≥ 0.45x".
bound() {
	local sign="≥"
	[ "$1" = le ] && sign="≤"
	if [ "$3" = x ]; then echo "$sign $2x"; else echo "$sign $2 $3"; fi
}
missed=0
echo
echo "| target | measured | |"
echo "|---|---|---|"
for t in "${targets[@]}"; do
	read -r key op thr unit text <<<"$t"
	vals=${measured[$key]:-}
	if [ -z "$vals" ]; then
		echo "| $text $(bound "$op" "$thr" "$unit") | not measured | |"
		continue
	fi
	row=$(awk -v vals="$vals" -v op="$op" -v thr="$thr" -v unit="$unit" 'BEGIN {
		n = split(vals, v, " "); lo = v[1]; hi = v[1]
		for (i = 2; i <= n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i] }
		ok = (op == "ge") ? (lo >= thr) : (hi <= thr)
		f = (unit == "x") ? "%.2fx" : "%+.0f µs"
		r = sprintf(f, lo); if (sprintf(f, hi) != r) r = r "–" sprintf(f, hi)
		print r "|" (ok ? "met" : "missed")
	}')
	echo "| $text $(bound "$op" "$thr" "$unit") | ${row%|*} | ${row#*|} |"
	[ "${row#*|}" = met ] || missed=$((missed + 1))
done
if [ "$errs" != 0 ]; then
	echo "harness.sh: $errs error answers or broken connections in all" >&2
	exit 1
fi
if $check && [ "$missed" != 0 ]; then
	echo "harness.sh: $missed targets missed" >&2
	exit 3
fi
