package core

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestDecoderGrants checks the decoder's side of the input budget: a
// frame larger than ungrantedMax that spans reads stops at its header
// (errGrant, consuming nothing more) until granted, then is buffered in
// one allocation of its exact size; a smaller one is buffered in one
// exact allocation without a grant; a whole frame in one read needs none.
func TestDecoderGrants(t *testing.T) {
	content := bytes.Repeat([]byte("g"), 100<<10)
	big := frameOf(hdr("little", "binary/x", "binary", len(content)), string(content))
	hlen := len(big) - len(content) - 2

	d := Decoder{grants: true}
	var m Message
	n, ok, err := d.DecodeTo(&m, big[:4096])
	if err != errGrant || ok || n != 2+hlen {
		t.Fatalf("got %d, %t, %v; want the header consumed and errGrant", n, ok, err)
	}
	if n, ok, err := d.DecodeTo(&m, big[2+hlen:4096]); err != errGrant || ok || n != 0 {
		t.Fatalf("before the grant: got %d, %t, %v; want 0 and errGrant again", n, ok, err)
	}
	if !d.Partial() || d.grantSize() != len(big) {
		t.Fatalf("Partial %t, grantSize %d; want true, %d", d.Partial(), d.grantSize(), len(big))
	}
	d.grant()
	if cap(d.buf) != len(big) || !d.granted {
		t.Fatalf("after the grant: cap %d, granted %t; want %d, true", cap(d.buf), d.granted, len(big))
	}
	base := unsafe.SliceData(d.buf)
	for i := 2 + hlen; i < len(big); {
		end := min(i+4096, len(big))
		k, ok, err := d.DecodeTo(&m, big[i:end])
		if err != nil {
			t.Fatal(err)
		}
		i += k
		if ok != (i == len(big)) {
			t.Fatalf("ok %t at %d of %d", ok, i, len(big))
		}
	}
	if !bytes.Equal(m.Content, content) || d.granted || d.Partial() {
		t.Fatalf("content %d bytes, granted %t, partial %t", len(m.Content), d.granted, d.Partial())
	}
	if unsafe.SliceData(m.Content) != (*byte)(unsafe.Add(unsafe.Pointer(base), 2+hlen)) {
		t.Error("the granted buffer was reallocated")
	}

	// Small enough to need no grant: one exact allocation.
	small := frameOf(hdr("little", "binary/x", "binary", 20<<10), string(content[:20<<10]))
	if n, ok, err := d.DecodeTo(&m, small[:200]); n != 200 || ok || err != nil {
		t.Fatalf("small: got %d, %t, %v", n, ok, err)
	}
	if cap(d.buf) != len(small) {
		t.Errorf("small: cap %d, want %d", cap(d.buf), len(small))
	}
	if n, ok, err := d.DecodeTo(&m, small[200:]); !ok || err != nil || n != len(small)-200 {
		t.Fatalf("small: got %d, %t, %v", n, ok, err)
	}

	// A large frame whole in one read aliases it, with no grant.
	if n, ok, err := d.DecodeTo(&m, big); !ok || err != nil || n != len(big) {
		t.Fatalf("whole: got %d, %t, %v", n, ok, err)
	}

	// Reset drops a granted buffer.
	d.DecodeTo(&m, big[:4096])
	d.grant()
	d.Reset()
	if d.buf != nil || d.granted || !d.grants {
		t.Errorf("after Reset: cap %d, granted %t, grants %t", cap(d.buf), d.granted, d.grants)
	}
}

// TestInputBudgetNoDeadlock has many goroutines take grants of random
// sizes as connections do (one at a time, waiting while holding none):
// every one finishes, and no more than the budget is ever reserved.
func TestInputBudgetNoDeadlock(t *testing.T) {
	const (
		max     = 100
		workers = 50
		rounds  = 200
	)
	b := &inputBudget{max: max}
	stop := make(chan struct{})
	timer := time.AfterFunc(20*time.Second, func() { close(stop) })
	defer timer.Stop()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				n := 1 + rand.Int64N(max)
				if err := b.acquire(n, time.Time{}, stop); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				if u := b.inUse.Load(); u > max {
					t.Errorf("%d reserved, above %d", u, max)
				}
				if rand.IntN(4) == 0 {
					time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
				}
				b.release(n)
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		t.Fatalf("a worker still waited after 20s: %v", failed)
	}
	if u := b.inUse.Load(); u != 0 {
		t.Errorf("%d left reserved", u)
	}
}

// FuzzDecoderGrants checks that a decoder with grants, granted whatever
// it asks, decodes any input, split at any point, as a plain decoder does
// (with DecodeTo into messages kept, as the Server decodes), and asks
// only for frames above ungrantedMax, once each.
func FuzzDecoderGrants(f *testing.F) {
	big := frameOf(hdr("little", "binary/x", "binary", 70<<10), strings.Repeat("b", 70<<10))
	for _, s := range append(fuzzSeeds(f), big, append(append([]byte(nil), big...), big[:100]...)) {
		f.Add(s, len(s)/2)
	}
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		split = min(max(split, 0), len(in))
		want, wantErr, wantPartial := decodeTo(t, false, in[:split], in[split:])
		got, gotErr, gotPartial := decodeTo(t, true, in[:split], in[split:])
		if (wantErr == nil) != (gotErr == nil) || wantPartial != gotPartial || len(got) != len(want) {
			t.Fatalf("with grants: %d messages, %v, partial %t; without: %d, %v, %t", len(got), gotErr, gotPartial, len(want), wantErr, wantPartial)
		}
		for i := range want {
			if d := msgDiff(got[i], want[i]); d != "" {
				t.Fatalf("message %d: %s", i, d)
			}
		}
	})
}

// decodeTo decodes the chunks with DecodeTo into fresh messages, granting
// at once when asked if grants.
func decodeTo(t *testing.T, grants bool, chunks ...[]byte) (msgs []*Message, err error, partial bool) {
	d := Decoder{grants: grants}
	for _, c := range chunks {
		for len(c) > 0 {
			m := new(Message)
			n, ok, err := d.DecodeTo(m, c)
			c = c[n:]
			if err == errGrant {
				if !grants || d.grantSize() <= ungrantedMax || d.granted {
					t.Fatalf("errGrant for a frame of %d bytes", d.grantSize())
				}
				d.grant()
				continue
			}
			if err != nil {
				return msgs, err, false
			}
			if ok {
				msgs = append(msgs, m)
			} else if len(c) > 0 {
				t.Fatalf("no message, %d bytes left", len(c))
			}
		}
	}
	return msgs, nil, d.Partial()
}
