//go:build linux

package shmring_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/internal/shmring"
)

// The test binary is also the child process of the benchmarks: with
// SHMRING_CHILD=pipe it echoes what it reads on descriptor 3 to 4; with
// SHMRING_CHILD=ring:SPIN it echoes ring A to ring B.
func TestMain(m *testing.M) {
	switch mode := os.Getenv("SHMRING_CHILD"); {
	case mode == "pipe":
		echoPipe()
	case strings.HasPrefix(mode, "ring:"):
		spin, _ := strconv.Atoi(strings.TrimPrefix(mode, "ring:"))
		echoRing(spin)
	}
	os.Exit(m.Run())
}

func echoPipe() {
	in, out := os.NewFile(3, "in"), os.NewFile(4, "out")
	buf := make([]byte, 64<<10)
	for {
		n, err := in.Read(buf)
		if err != nil {
			os.Exit(0)
		}
		if _, err := out.Write(buf[:n]); err != nil {
			os.Exit(0)
		}
	}
}

func echoRing(spin int) {
	s, err := shmring.Attach([3]*os.File{os.NewFile(3, "mem"), os.NewFile(4, "a"), os.NewFile(5, "b")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dst := make([][]byte, shmring.Slots)
	for i := range dst {
		dst[i] = make([]byte, shmring.SlotSize)
	}
	for {
		n := s.A.Get(dst, spin)
		s.B.Put(dst[:n]...)
	}
}

// child starts the test binary as the echoing child with mode and files.
func child(b *testing.B, mode string, files ...*os.File) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHMRING_CHILD="+mode)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// cpuTicks returns the user and system clock ticks pid has used.
func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// measure runs round b.N times, and reports the CPU both processes spent
// per round trip (clock ticks of 10 ms: run with a -benchtime of a few
// seconds).
func measure(b *testing.B, childPid int, batch int, round func()) {
	c0 := cpuTicks(b, os.Getpid()) + cpuTicks(b, childPid)
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	c1 := cpuTicks(b, os.Getpid()) + cpuTicks(b, childPid)
	b.ReportMetric(float64(c1-c0)*float64(10*time.Millisecond)/float64(b.N*batch), "cpu-ns/msg")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
}

func BenchmarkPipe(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			reqR, reqW, _ := os.Pipe()
			ansR, ansW, _ := os.Pipe()
			cmd := child(b, "pipe", reqR, ansW)
			reqR.Close()
			ansW.Close()
			msg := make([]byte, batch*shmring.SlotSize)
			got := make([]byte, len(msg))
			measure(b, cmd.Process.Pid, batch, func() {
				if _, err := reqW.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(ansR, got); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkBlockingPipe is BenchmarkPipe with the parent's pipe ends in
// blocking mode, read and written with plain system calls: the goroutine's
// thread blocks in read(2) and the kernel wakes it, instead of the Go
// runtime's poller parking the goroutine and waking it from epoll.
func BenchmarkBlockingPipe(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			var req, ans [2]int
			if err := syscall.Pipe(req[:]); err != nil {
				b.Fatal(err)
			}
			if err := syscall.Pipe(ans[:]); err != nil {
				b.Fatal(err)
			}
			cmd := child(b, "pipe", os.NewFile(uintptr(req[0]), "req"), os.NewFile(uintptr(ans[1]), "ans"))
			syscall.Close(req[0])
			syscall.Close(ans[1])
			b.Cleanup(func() { syscall.Close(req[1]); syscall.Close(ans[0]) })
			msg := make([]byte, batch*shmring.SlotSize)
			got := make([]byte, len(msg))
			measure(b, cmd.Process.Pid, batch, func() {
				if _, err := syscall.Write(req[1], msg); err != nil {
					b.Fatal(err)
				}
				for n := 0; n < len(got); {
					k, err := syscall.Read(ans[0], got[n:])
					if err != nil || k == 0 {
						b.Fatal(err)
					}
					n += k
				}
			})
		})
	}
}

func BenchmarkRing(b *testing.B) {
	for _, spin := range []int{0, 20000} {
		for _, batch := range []int{1, 16} {
			b.Run(fmt.Sprintf("spin=%d/batch=%d", spin, batch), func(b *testing.B) {
				s, err := shmring.Create()
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				cmd := child(b, fmt.Sprint("ring:", spin), s.Files[:]...)
				msgs := make([][]byte, batch)
				dst := make([][]byte, shmring.Slots)
				for i := range msgs {
					msgs[i] = make([]byte, shmring.SlotSize)
				}
				for i := range dst {
					dst[i] = make([]byte, shmring.SlotSize)
				}
				measure(b, cmd.Process.Pid, batch, func() {
					s.A.Put(msgs...)
					for n := 0; n < batch; {
						n += s.B.Get(dst, spin)
					}
				})
			})
		}
	}
}
