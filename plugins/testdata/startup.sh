#!/usr/bin/env bash
# Measures how long `router serve` takes from its start to its "listening"
# log line, N times (default 30), and prints the median and the 90th
# percentile in milliseconds. Extra arguments go to `router serve`.
# usage: startup.sh ROUTER_BINARY [N] [serve flags...]
set -euo pipefail
bin=$1
n=${2:-30}
shift $(($# >= 2 ? 2 : 1))
times=()
for ((i = 0; i < n; i++)); do
	start=$(date +%s%N)
	coproc R { exec "$bin" serve --listen 127.0.0.1:0 "$@" 2>&1; }
	pid=$R_PID
	found=
	while IFS= read -r line <&"${R[0]}"; do
		if [[ $line == *listening* ]]; then found=1; break; fi
	done
	end=$(date +%s%N)
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	[[ -n $found ]] || { echo "router exited before listening" >&2; exit 1; }
	times+=($(((end - start) / 1000)))
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1}
	END {printf "runs %d  median %.1f ms  p90 %.1f ms\n", NR, a[int((NR + 1) / 2)] / 1000, a[int(NR * 0.9)] / 1000}'
