package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgrouter/router/core"
)

// FaultHandler answers the requests of the plugin faults (PluginFaults),
// served by a plugin process of its own ("router plugin soak"), by their
// JSON action:
//
//	slow  waits the duration its "value" gives (or until its deadline),
//	      then answers {"result": "slept DURATION"}
//	big   answers as many bytes "x" as its "value" gives
type FaultHandler struct{}

// Handle answers a slow or big request.
func (FaultHandler) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	var r struct {
		Action string          `json:"action"`
		Value  json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(req.Content, &r); err != nil {
		return nil, err
	}
	var value string
	if err := json.Unmarshal(r.Value, &value); err != nil {
		return nil, fmt.Errorf("%s: want a string value: %w", r.Action, err)
	}
	switch r.Action {
	case "slow":
		d, err := time.ParseDuration(value)
		if err != nil {
			return nil, err
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return core.NewJSON(core.Object{{Key: "result", Value: "slept " + d.String()}})
	case "big":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("big: want a count of bytes, got %q", value)
		}
		return core.NewBinary("binary/custom-server-binary-type", bytes.Repeat([]byte("x"), n)), nil
	}
	return nil, fmt.Errorf("no fault action %q", r.Action)
}

// The plugin faults' load: slowConns connections each send slowEach
// requests to a handler that takes slowTook, one after the other; and
// oversizedTimes answers over the limit in a row, then a normal one.
const (
	slowConns      = 64
	slowEach       = 4
	slowTook       = 50 * time.Millisecond
	oversizedTimes = 7
)

// PluginFaults returns the faults that need the routes "slow" and "big"
// to FaultHandler in a plugin process, on the router at addr whose
// limits.max_content_length is limit:
//
//	slow       64 connections send 4 requests each to a handler that
//	           takes 50 ms: each must be answered, none with an error
//	           (the plugin runs them at once, and is not killed for it)
//	oversized  7 requests for an answer above the limit, each answered
//	           with an error, then one for a small answer, answered
//	           (the plugin is not killed for them)
func PluginFaults(addr string, limit int64) []Fault {
	return []Fault{
		{Name: "slow", Inject: func(ctx context.Context) (string, error) { return slowFault(ctx, addr) }},
		{Name: "oversized", Inject: func(ctx context.Context) (string, error) { return oversizedFault(ctx, addr, limit) }},
	}
}

// faultRequest is the JSON request of a plugin fault.
func faultRequest(action, value string) *core.Message {
	m, _ := core.NewJSON(core.Object{{Key: "action", Value: action}, {Key: "value", Value: value}})
	return m
}

func slowFault(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	begin := time.Now()
	var ok atomic.Int64
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for range slowConns {
		wg.Go(func() {
			fail := func(err error) {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
			c, err := core.Dial(ctx, addr)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			for range slowEach {
				ans, err := c.Do(ctx, faultRequest("slow", slowTook.String()))
				if err == nil {
					err = core.AnswerError(ans)
				}
				if err == nil && !bytes.Contains(ans.Content, []byte("slept")) {
					err = fmt.Errorf("answer %q", ans.Content)
				}
				if err != nil {
					fail(err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	line := fmt.Sprintf("slow: %d of %d answered in %s (%.0f req/s, %s each)", ok.Load(), slowConns*slowEach, took.Round(time.Millisecond),
		float64(ok.Load())/took.Seconds(), slowTook)
	if len(errs) > 0 {
		return "", fmt.Errorf("%s; %d errors, first: %s", line, len(errs), errs[0])
	}
	return line, nil
}

func oversizedFault(ctx context.Context, addr string, limit int64) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := core.Dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	over := strconv.FormatInt(limit+1, 10)
	for i := range oversizedTimes {
		ans, err := c.Do(ctx, faultRequest("big", over))
		if err == nil {
			err = core.AnswerError(ans)
		}
		if re, ok := errors.AsType[*core.RemoteError](err); !ok || !strings.Contains(re.Text, "above the router's limit") {
			return "", fmt.Errorf("oversized answer %d of %d: %v; want an error answer saying it is above the limit", i+1, oversizedTimes, err)
		}
	}
	ans, err := c.Do(ctx, faultRequest("big", "10"))
	if err != nil || string(ans.Content) != "xxxxxxxxxx" {
		return "", fmt.Errorf("after %d oversized answers, a small one: %v, %v", oversizedTimes, ans, err)
	}
	return fmt.Sprintf("oversized: %d answers of %s bytes refused with an error, the next answered", oversizedTimes, over), nil
}
