//go:build linux

package core

import (
	"bytes"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// physicalMemory is the machine's memory, or less if the process's cgroup
// (v2) or one above it sets memory.max, as in a container; 0 if unknown.
func physicalMemory() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	mem := int64(si.Totalram) * int64(si.Unit)
	if lim := cgroupMemoryMax(); lim > 0 && lim < mem {
		mem = lim
	}
	return mem
}

// cgroupMemoryMax is the smallest memory.max of the process's cgroup v2
// and those above it; 0 if none is set or there is no cgroup v2.
func cgroupMemoryMax() int64 {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	var dir string
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if p, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			dir = path.Clean("/" + string(p))
		}
	}
	if dir == "" {
		return 0
	}
	var least int64
	for {
		b, err := os.ReadFile(path.Join("/sys/fs/cgroup", dir, "memory.max"))
		if err == nil {
			if v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && v > 0 && (least == 0 || v < least) {
				least = v // "max" means no limit
			}
		}
		if dir == "/" {
			return least
		}
		dir = path.Dir(dir)
	}
}
