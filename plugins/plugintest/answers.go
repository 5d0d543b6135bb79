package plugintest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/msgrouter/router/core"
)

func (tc *testCase) timeout() time.Duration {
	if tc.Timeout > 0 {
		return tc.Timeout
	}
	return DefaultTimeout
}

// call sends a copy of the case's request and checks the answer.
func (tc *testCase) call(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, tc.timeout())
	defer cancel()
	ans, err := tc.h.Handle(ctx, tc.Request.Clone())
	tc.r.died(err)
	return tc.check(ans, err)
}

// roundGap is the time between two rounds of the concurrent check.
const roundGap = 2 * time.Millisecond

// sequential runs each case once, in order.
func (r *runner) sequential(errs *errorList, cases []*testCase, phase string) {
	for _, tc := range cases {
		if !tc.ok {
			continue
		}
		if err := tc.call(context.Background()); err != nil {
			errs.add("%s%s: %v", tc.name, phase, err)
			tc.ok = false
		}
	}
}

// concurrent runs Copies copies of every case at once, in rounds of one
// copy of each case. The rounds start roundGap apart: a plugin may answer
// the requests that reach it together one after the other (the SDK
// answers a batch in order), and spreading them out makes the plugin
// handle one round while the next arrives.
func (r *runner) concurrent(errs *errorList, cases []*testCase) {
	type result struct {
		failed int
		first  error
	}
	results := make([]result, len(cases))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := range Copies {
		if k > 0 {
			time.Sleep(roundGap)
		}
		for i, tc := range cases {
			if !tc.ok {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := tc.call(context.Background()); err != nil {
					mu.Lock()
					results[i].failed++
					if results[i].first == nil {
						results[i].first = fmt.Errorf("copy %d: %w", k+1, err)
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for i, res := range results {
		if res.failed > 0 {
			errs.add("%s, run concurrently with the other cases: %d of %d copies failed (state shared between requests?); %v",
				cases[i].name, res.failed, Copies, res.first)
			cases[i].ok = false
		}
	}
}

// batches sends each handler's cases to it in one batch, twice over, as
// the router sends the requests that arrive in one read.
func (r *runner) batches(errs *errorList, cases []*testCase) {
	byHandler := make(map[string][]*testCase)
	var order []string
	for _, tc := range cases {
		if !tc.ok {
			continue
		}
		if _, ok := byHandler[tc.Handler]; !ok {
			order = append(order, tc.Handler)
		}
		byHandler[tc.Handler] = append(byHandler[tc.Handler], tc)
	}
	for _, name := range order {
		batch := append(slices.Clone(byHandler[name]), byHandler[name]...)
		bh, ok := batch[0].h.(core.BatchHandler)
		if !ok {
			continue
		}
		var timeout time.Duration
		reqs := make([]*core.Message, len(batch))
		for i, tc := range batch {
			reqs[i] = tc.Request.Clone()
			timeout = max(timeout, tc.timeout())
		}
		answers := make([]*core.Message, len(batch))
		errList := make([]error, len(batch))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		bh.HandleBatch(ctx, reqs, answers, errList)
		cancel()
		for _, err := range errList {
			r.died(err)
		}
		for i, tc := range batch {
			if !tc.ok {
				continue
			}
			if err := tc.check(answers[i], errList[i]); err != nil {
				errs.add("%s, in a batch of %d requests to handler %q: %v", tc.name, len(batch), name, err)
				tc.ok = false
			}
		}
	}
}
