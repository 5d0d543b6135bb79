package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/msgrouter/router/core"
)

// batchOf is a BatchHandler whose HandleBatch runs fn.
type batchOf struct {
	core.Handler
	fn func(reqs, answers []*core.Message, errs []error)
}

func (b batchOf) HandleBatch(_ context.Context, reqs, answers []*core.Message, errs []error) {
	b.fn(reqs, answers, errs)
}

func TestCallBatch(t *testing.T) {
	echo := core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
		if string(m.Content) == "panic" {
			panic("boom")
		}
		if string(m.Content) == "nil" {
			return nil, nil
		}
		return core.NewBinary("a/b", m.Content), nil
	})
	batches := 0
	whole := batchOf{Handler: echo, fn: func(reqs, answers []*core.Message, errs []error) {
		batches++
		for i, r := range reqs {
			answers[i] = core.NewBinary("a/b", r.Content)
		}
	}}
	halfPanics := batchOf{Handler: echo, fn: func(reqs, answers []*core.Message, errs []error) {
		answers[0] = core.NewBinary("a/b", reqs[0].Content)
		panic("half")
	}}
	leavesNone := batchOf{Handler: echo, fn: func(reqs, answers []*core.Message, errs []error) {}}
	for _, tc := range []struct {
		name    string
		h       core.Handler
		content []string
		want    []string // the answer's content, or "!ERR" for an error matching errWant
		errWant error
		batches int
	}{
		{"handler, one by one", echo, []string{"a", "panic", "nil"}, []string{"a", "!ERR", "!ERR"}, nil, 0},
		{"batch handler, one batch", whole, []string{"a", "b"}, []string{"a", "b"}, nil, 1},
		{"batch handler, one request: Handle", whole, []string{"a"}, []string{"a"}, nil, 0},
		{"panic in HandleBatch", halfPanics, []string{"a", "b", "c"}, []string{"a", "!ERR", "!ERR"}, core.ErrHandlerPanic, 0},
		{"no answer from HandleBatch", leavesNone, []string{"a", "b"}, []string{"!ERR", "!ERR"}, core.ErrNoAnswer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batches = 0
			reqs := make([]*core.Message, len(tc.content))
			for i, c := range tc.content {
				reqs[i] = core.NewBinary("a/b", []byte(c))
			}
			answers, errs := make([]*core.Message, len(reqs)), make([]error, len(reqs))
			core.CallBatch(context.Background(), tc.h, reqs, answers, errs)
			for i, w := range tc.want {
				switch {
				case w == "!ERR" && (errs[i] == nil || tc.errWant != nil && !errors.Is(errs[i], tc.errWant)):
					t.Errorf("request %d: %v, want an error (%v)", i, errs[i], tc.errWant)
				case w != "!ERR" && (errs[i] != nil || string(answers[i].Content) != w):
					t.Errorf("request %d: %v, %v; want %q", i, answers[i], errs[i], w)
				}
			}
			if batches != tc.batches {
				t.Errorf("%d HandleBatch calls, want %d", batches, tc.batches)
			}
		})
	}
}

// A Mux whose batch goes all to one route hands the route the caller's
// slices as it would a sub-batch: as long as the requests, and cleared,
// whatever the caller's slices were (CallBatch allows longer ones).
func TestMuxOneRouteBatchSlices(t *testing.T) {
	var seen []int
	route := batchOf{
		Handler: core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) { return nil, errors.New("unused") }),
		fn: func(reqs, answers []*core.Message, errs []error) {
			seen = append(seen, len(reqs), len(answers), len(errs))
			for i, r := range reqs {
				if errs[i] != nil || answers[i] != nil {
					t.Errorf("slot %d came to the route holding %v, %v", i, answers[i], errs[i])
				}
				answers[i] = core.NewBinary("a/b", r.Content) // errs left as they are
			}
		},
	}
	mux, err := core.NewMux(core.Route{ContentType: "a/b", Handler: route})
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*core.Message{core.NewBinary("a/b", []byte("x")), core.NewBinary("a/b", []byte("y"))}
	stale := errors.New("stale")
	answers, errs := make([]*core.Message, 5), make([]error, 5)
	for i := range errs {
		answers[i], errs[i] = core.NewBinary("a/b", []byte("stale")), stale
	}
	core.CallBatch(context.Background(), mux, reqs, answers, errs)
	if len(seen) != 3 || seen[0] != 2 || seen[1] != 2 || seen[2] != 2 {
		t.Errorf("the route saw requests, answers, errs of lengths %v, want 2, 2, 2", seen)
	}
	for i, r := range reqs {
		if errs[i] != nil || answers[i] == nil || string(answers[i].Content) != string(r.Content) {
			t.Errorf("request %d: %v, %v; want its echo", i, answers[i], errs[i])
		}
	}
	for i := len(reqs); i < len(errs); i++ {
		if errs[i] != stale {
			t.Errorf("slot %d past the requests was changed to %v", i, errs[i])
		}
	}
}
