package plugins_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system) used by this process and
// its running children, the plugin processes: per request, it moves less
// than the rate when other work shares the machine. It counts the load
// generator too.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		kids, _ := os.ReadFile(t)
		for _, pid := range strings.Fields(string(kids)) {
			total += procCPU(pid)
		}
	}
	return total
}

// procCPU returns the CPU time of process pid from /proc, in clock ticks
// of 10 ms (USER_HZ is 100 on Linux).
func procCPU(pid string) time.Duration {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0 // it has exited
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after it. utime and stime are fields 14 and 15.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
