//go:build linux

package shmring

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SlotSize is the size of one message; Slots the number of slots of a
// ring.
const (
	SlotSize = 64
	Slots    = 256
)

// ringBytes is one ring's size in the shared memory: a cache line for the
// producer's count, one for the consumer's, one for the consumer's
// "asleep" flag, then the slots.
const ringBytes = 3*64 + Slots*SlotSize

// Ring is one direction of the shared memory: a single producer and a
// single consumer, each in its own process.
type Ring struct {
	head   *atomic.Uint64 // messages produced
	tail   *atomic.Uint64 // messages consumed
	asleep *atomic.Uint32 // the consumer waits on wake
	slots  []byte
	wake   *os.File // eventfd
}

// Shared is the memory of two rings, and their eventfds, as one process
// made them: pass Files to the other process and open them with Attach.
type Shared struct {
	mem   []byte
	Files [3]*os.File // the memfd, and the eventfd of each ring
	A, B  *Ring
}

// Create makes the shared memory and the eventfds.
func Create() (*Shared, error) {
	fd, err := unix.MemfdCreate("shmring", 0)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, 2*ringBytes); err != nil {
		unix.Close(fd)
		return nil, err
	}
	var files [3]*os.File
	files[0] = os.NewFile(uintptr(fd), "shmring")
	for i := 1; i < 3; i++ {
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("eventfd: %w", err)
		}
		files[i] = os.NewFile(uintptr(efd), "shmring-wake")
	}
	return Attach(files)
}

// Attach maps the shared memory that files (Shared.Files, passed on)
// name.
func Attach(files [3]*os.File) (*Shared, error) {
	mem, err := unix.Mmap(int(files[0].Fd()), 0, 2*ringBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	s := &Shared{mem: mem, Files: files}
	s.A = ringAt(mem[:ringBytes], files[1])
	s.B = ringAt(mem[ringBytes:], files[2])
	return s, nil
}

func ringAt(m []byte, wake *os.File) *Ring {
	return &Ring{
		head:   (*atomic.Uint64)(unsafe.Pointer(&m[0])),
		tail:   (*atomic.Uint64)(unsafe.Pointer(&m[64])),
		asleep: (*atomic.Uint32)(unsafe.Pointer(&m[128])),
		slots:  m[192:],
		wake:   wake,
	}
}

// Close unmaps the memory.
func (s *Shared) Close() error { return unix.Munmap(s.mem) }

// Put copies msgs (each at most SlotSize bytes) into the ring, and wakes
// the consumer if it sleeps. It spins while the ring is full.
func (r *Ring) Put(msgs ...[]byte) {
	head := r.head.Load()
	for _, m := range msgs {
		for head-r.tail.Load() >= Slots {
			runtime.Gosched()
		}
		copy(r.slots[(head%Slots)*SlotSize:][:SlotSize], m)
		head++
	}
	r.head.Store(head)
	if r.asleep.Load() == 1 {
		var one [8]byte
		one[0] = 1
		r.wake.Write(one[:])
	}
}

// Get waits for at least one message and copies up to len(dst) of them
// into dst, returning how many. It spins for spin checks, then sleeps on
// the eventfd until the producer wakes it.
func (r *Ring) Get(dst [][]byte, spin int) int {
	tail := r.tail.Load()
	for i := 0; r.head.Load() == tail; i++ {
		if i < spin {
			continue
		}
		r.asleep.Store(1)
		if r.head.Load() != tail { // a Put between the check and the flag
			r.asleep.Store(0)
			break
		}
		var buf [8]byte
		r.wake.Read(buf[:])
		r.asleep.Store(0)
	}
	head := r.head.Load()
	n := 0
	for ; tail < head && n < len(dst); n++ {
		copy(dst[n][:SlotSize], r.slots[(tail%Slots)*SlotSize:][:SlotSize])
		tail++
	}
	r.tail.Store(tail)
	return n
}
