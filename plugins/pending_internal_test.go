package plugins

import (
	"math/rand/v2"
	"testing"
)

// TestPendingSet checks the ring of pending calls against a map, with
// answers in and out of order, calls given up on, and a few calls left
// waiting while more than maxWindow later ones come and go, so that the
// ring evicts them to far.
func TestPendingSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var p pendingSet
	model := map[uint64]slot{}
	batches := make([]batchWait, 4)
	next := uint64(1)
	var waiting []uint64 // ids in model, in no order
	stuck := map[uint64]bool{}
	take := func(id uint64) {
		if stuck[id] {
			return // until the end
		}
		s, ok := p.take(id)
		want, wantOK := model[id]
		if ok != wantOK || s != want {
			t.Fatalf("take(%d) = %v, %v; want %v, %v", id, s, ok, want, wantOK)
		}
		delete(model, id)
	}
	for step := range 5 * maxWindow {
		switch k := r.IntN(10); {
		case k < 5 && len(waiting) < 500 || len(waiting) == 0:
			s := slot{b: &batches[r.IntN(len(batches))], i: r.IntN(16)}
			p.add(next, s)
			model[next] = s
			if step < 3 { // left waiting until the end
				stuck[next] = true
			} else {
				waiting = append(waiting, next)
			}
			next++
		case k < 8: // the oldest answered first, mostly
			j := 0
			if r.IntN(4) == 0 {
				j = r.IntN(len(waiting))
			}
			id := waiting[j]
			waiting = append(waiting[:j], waiting[j+1:]...)
			take(id)
		case k < 9: // an id given up on, or answered twice
			take(next - 1 - uint64(r.IntN(int(min(next-1, 100)))))
		default: // an id never sent, or long gone
			take(next + uint64(r.IntN(3)))
			take(uint64(r.IntN(int(next))))
		}
		if p.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, p.len(), len(model))
		}
		if span := p.next - p.head; span > uint64(len(p.ring)) || len(p.ring) > maxWindow {
			t.Fatalf("step %d: ring of %d spans %d ids", step, len(p.ring), span)
		}
	}
	if next <= maxWindow {
		t.Fatalf("only %d ids added", next-1)
	}
	if len(p.far) != len(stuck) {
		t.Errorf("%d calls in far, want the %d left waiting", len(p.far), len(stuck))
	}
	for id := range stuck {
		delete(stuck, id)
		take(id)
	}
	n := 0
	p.takeAll(func(s slot) {
		if s.b == nil {
			t.Error("takeAll gave a free slot")
		}
		n++
	})
	if n != len(model) || p.len() != 0 {
		t.Errorf("takeAll took %d, want %d; len after %d", n, len(model), p.len())
	}
	for id := range model {
		if _, ok := p.take(id); ok {
			t.Errorf("id %d still held after takeAll", id)
		}
	}
	p.add(next, slot{b: &batches[0]})
	if s, ok := p.take(next); !ok || s.b != &batches[0] {
		t.Errorf("add after takeAll: take = %v, %v", s, ok)
	}
}
