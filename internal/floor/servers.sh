# servers.sh: what the benchmark scripts share; sourced, not run
# (internal/floor/harness.sh, internal/floor/ab.sh,
# internal/natsbench/harness.sh). It makes $tmp, a temporary directory,
# and keeps in pid[NAME] the process id of each server that start starts;
# when the script exits, even on failure, it stops them (SIGTERM), waits
# for them and removes $tmp. The caller runs under set -euo pipefail and
# sets prog, its name in messages.

tmp=$(mktemp -d)
declare -A pid=()
cleanup() {
	for p in "${pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME PATTERN CMD...: starts CMD in the background, its output in
# $tmp/NAME.log, and waits up to 15 s for a line of it that matches the
# sed PATTERN; sets found to the line's \1. It exits the script, with the
# log, if CMD ends or never writes such a line.
found=""
start() {
	local name=$1 pattern=$2
	shift 2
	"$@" >"$tmp/$name.log" 2>&1 &
	pid[$name]=$!
	local a=""
	for _ in $(seq 300); do
		a=$(sed -n "s/$pattern/\1/p" "$tmp/$name.log" | head -1)
		[ -n "$a" ] && break
		kill -0 "${pid[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "$a" ]; then
		echo "$prog: $name did not start:" >&2
		cat "$tmp/$name.log" >&2
		exit 1
	fi
	found=$a
}

# listening is the PATTERN of the line in which the router and the floor
# name the address they listen on.
listening='.*listening: addr=\([^ ]*\).*'
