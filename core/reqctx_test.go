package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWithLazyDeadline(t *testing.T) {
	dl := time.Now().Add(30 * time.Millisecond)
	ctx, cancel := WithLazyDeadline(context.Background(), dl)
	if got, ok := ctx.Deadline(); !ok || !got.Equal(dl) {
		t.Fatalf("Deadline = %v, %v", got, ok)
	}
	if ctx.Err() != nil {
		t.Fatalf("Err before the deadline = %v", ctx.Err())
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the deadline")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline = %v", ctx.Err())
	}
	cancel()

	// Err tells the deadline without Done ever being called.
	ctx, cancel = WithLazyDeadline(context.Background(), time.Now().Add(-time.Second))
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err past the deadline, no Done = %v", ctx.Err())
	}
	cancel()

	// cancel ends it, before or after Done is asked for.
	for _, doneFirst := range []bool{false, true} {
		ctx, cancel = WithLazyDeadline(context.Background(), time.Now().Add(time.Hour))
		if doneFirst {
			ctx.Done()
		}
		cancel()
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("doneFirst=%v: Err after cancel = %v", doneFirst, ctx.Err())
		}
	}

	// The parent's cancellation and values come through.
	type key struct{}
	parent, pcancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx, cancel = WithLazyDeadline(parent, time.Now().Add(time.Hour))
	defer cancel()
	if ctx.Value(key{}) != "v" {
		t.Error("parent value lost")
	}
	pcancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err after parent cancel = %v", ctx.Err())
	}
}
