package plugins

// pendingSet holds the calls waiting for an answer, by router-id. Ids are
// handed out one after another, and answers mostly come back in about that
// order, so the set is a ring of slots from the oldest id still waiting
// (head) to the newest: one insert and one removal per request cost an
// index and a store, where a map cost a hash and a probe each, a share of
// the router's CPU on the pipelined data path worth saving (measured: see
// BENCHMARKS.md, "Figures that were in code comments").
//
// A call left waiting while maxWindow later ids were handed out (a slow
// or hung request) moves to the far map, so that it does not keep the
// ring growing behind it.
type pendingSet struct {
	ring []slot // len a power of two; slot.b nil is a free slot
	head uint64 // the oldest id in the ring
	next uint64 // the next id to add
	n    int    // calls held, in the ring and in far
	far  map[uint64]slot
}

// maxWindow bounds the ids the ring spans.
const maxWindow = 1 << 14

// add holds s for id, which must be the id after the last one added (the
// first is any id).
func (p *pendingSet) add(id uint64, s slot) {
	if p.ring == nil {
		p.ring = make([]slot, 64)
		p.head, p.next = id, id
	}
	if id != p.next {
		panic("plugins: pending ids out of order")
	}
	if p.next-p.head == uint64(len(p.ring)) {
		if len(p.ring) < maxWindow {
			p.grow()
		} else {
			p.evict()
		}
	}
	p.ring[p.next&p.mask()] = s
	p.next++
	p.n++
}

func (p *pendingSet) mask() uint64 { return uint64(len(p.ring) - 1) }

// grow doubles the ring, keeping each id at its index.
func (p *pendingSet) grow() {
	ring := make([]slot, 2*len(p.ring))
	m := uint64(len(ring) - 1)
	for id := p.head; id < p.next; id++ {
		ring[id&m] = p.ring[id&p.mask()]
	}
	p.ring = ring
}

// evict moves the oldest id, if it still waits, to far, and frees its
// slot and those after it that are free.
func (p *pendingSet) evict() {
	if s := p.ring[p.head&p.mask()]; s.b != nil {
		if p.far == nil {
			p.far = make(map[uint64]slot)
		}
		p.far[p.head] = s
		p.ring[p.head&p.mask()] = slot{}
	}
	p.advance()
}

// advance moves head past the free slots at the front.
func (p *pendingSet) advance() {
	for p.head < p.next && p.ring[p.head&p.mask()].b == nil {
		p.head++
	}
}

// take removes and returns the call waiting for id, if any.
func (p *pendingSet) take(id uint64) (slot, bool) {
	if id >= p.head && id < p.next {
		i := id & p.mask()
		s := p.ring[i]
		if s.b == nil {
			return slot{}, false
		}
		p.ring[i] = slot{}
		p.n--
		if id == p.head {
			p.advance()
		}
		return s, true
	}
	if s, ok := p.far[id]; ok {
		delete(p.far, id)
		p.n--
		return s, true
	}
	return slot{}, false
}

// len returns the number of calls held.
func (p *pendingSet) len() int { return p.n }

// takeAll removes every call held, and calls f for each.
func (p *pendingSet) takeAll(f func(slot)) {
	for id, s := range p.far {
		delete(p.far, id)
		f(s)
	}
	for id := p.head; id < p.next; id++ {
		i := id & p.mask()
		if s := p.ring[i]; s.b != nil {
			p.ring[i] = slot{}
			f(s)
		}
	}
	p.head, p.n = p.next, 0
}
