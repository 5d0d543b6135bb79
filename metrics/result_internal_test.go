package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/msgrouter/router/core"
)

// The labels are core's result names, in core's order, and an
// instrumented handler counts a no-route error of its own as an error.
func TestResultLabels(t *testing.T) {
	for i, label := range results {
		if got := core.Result(i).String(); got != label {
			t.Errorf("results[%d] = %q, core.Result(%d) = %q", i, label, i, got)
		}
	}
	if got := core.ResultNoRoute.String(); got != ResultNoRoute {
		t.Errorf("core.ResultNoRoute = %q, want %q", got, ResultNoRoute)
	}
	for _, c := range []struct {
		err          error
		label, count string
	}{
		{nil, ResultOK, ResultOK},
		{errors.New("boom"), ResultError, ResultError},
		{fmt.Errorf("%w: slow", core.ErrHandlerTimeout), ResultTimeout, ResultTimeout},
		{context.DeadlineExceeded, ResultTimeout, ResultTimeout},
		{context.Canceled, ResultCanceled, ResultCanceled},
		{fmt.Errorf("%w: content-type %q", core.ErrNoRoute, "x"), ResultNoRoute, ResultError},
	} {
		if got := Result(c.err); got != c.label {
			t.Errorf("Result(%v) = %q, want %q", c.err, got, c.label)
		}
		if got := results[resultIndex(c.err)]; got != c.count {
			t.Errorf("an instrumented handler counts %v as %q, want %q", c.err, got, c.count)
		}
	}
}
