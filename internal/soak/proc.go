package soak

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// memPeaks holds the largest memory of this process's children seen by
// sample, in bytes: of all together (VmRSS summed), and of one (VmHWM).
type memPeaks struct {
	children, child atomic.Int64
}

// sample reads the children's memory and keeps the peaks.
func (p *memPeaks) sample() {
	sum, top := childrenRSS()
	atomicMax(&p.children, sum)
	atomicMax(&p.child, top)
}

// statusBytes returns a "kB" field of a /proc status file, in bytes.
func statusBytes(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// Children returns the pids of this process's children.
func Children() []int {
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so parse
		// after its closing parenthesis.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == self {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out
}

// childrenRSS returns the sum of the children's resident sets and the
// largest peak of one.
func childrenRSS() (sum, top int64) {
	for _, pid := range Children() {
		dir := "/proc/" + strconv.Itoa(pid) + "/status"
		sum += statusBytes(dir, "VmRSS:")
		top = max(top, statusBytes(dir, "VmHWM:"))
	}
	return sum, top
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
