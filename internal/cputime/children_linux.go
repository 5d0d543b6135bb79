package cputime

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Children returns the CPU time used so far by this process's children
// that are still running (plugin processes, say), in steps of 10 ms, the
// clock tick of /proc.
func Children() time.Duration {
	var total time.Duration
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		kids, _ := os.ReadFile(t)
		for _, pid := range strings.Fields(string(kids)) {
			total += procCPU(pid)
		}
	}
	return total
}

// procCPU returns the CPU time of process pid from /proc/PID/stat, whose
// utime and stime count ticks of 10 ms (USER_HZ is 100 on Linux).
func procCPU(pid string) time.Duration {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0 // it has exited
	}
	// The command name, in parentheses, may hold spaces: the fields are
	// counted from after it, utime and stime being the 14th and 15th.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
