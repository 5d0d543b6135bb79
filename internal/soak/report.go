package soak

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Report is what a run saw.
type Report struct {
	Duration time.Duration
	// Sent and Answered count the requests of the load, the checkers and
	// the storms; ErrorAnswers is how many of the answers were
	// {"error": ...}.
	Sent, Answered, ErrorAnswers int64
	// Unanswered, Duplicated and Mismatched are the failures: requests
	// that got no answer, extra answers, answers that were not the
	// request's (checkers only).
	Unanswered, Duplicated, Mismatched int64
	// Errors counts the errors by kind: the error answers by what they
	// say ("plugin exited", "handler timed out"...), and the load
	// generator's connection errors by its kinds.
	Errors map[string]int64
	// Samples holds one message of each error kind.
	Samples map[string]string
	// Faults counts the faults injected, by name; FaultErrors those that
	// failed.
	Faults, FaultErrors map[string]int64
	// Hostile counts the hostile connections by what the router did with
	// them.
	Hostile map[string]int64
	// PeakRSS is this process's peak resident set (VmHWM), PeakChildRSS
	// the largest sum of its children's resident sets seen (sampled every
	// second), PeakChild the largest peak of one child, in bytes.
	PeakRSS, PeakChildRSS, PeakChild int64
	// Extra holds lines the caller adds (plugin restarts...), printed
	// after the counts.
	Extra []string
	// Interrupted is set when Run's context ended the run: the requests
	// in flight then were abandoned, not lost.
	Interrupted bool
}

// OK reports whether every request got exactly one answer, its own.
func (r *Report) OK() bool {
	return r.Unanswered == 0 && r.Duplicated == 0 && r.Mismatched == 0 && r.Sent == r.Answered
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "soak: %s\n", r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "requests sent:      %d\n", r.Sent)
	fmt.Fprintf(w, "answers received:   %d (%d of them error answers)\n", r.Answered, r.ErrorAnswers)
	fmt.Fprintf(w, "unanswered:         %d\n", r.Unanswered)
	fmt.Fprintf(w, "answered twice:     %d\n", r.Duplicated)
	fmt.Fprintf(w, "wrong answer:       %d\n", r.Mismatched)
	fmt.Fprintf(w, "errors by kind:%s\n", countList(r.Errors))
	for _, k := range slices.Sorted(maps.Keys(r.Samples)) {
		fmt.Fprintf(w, "  %s: e.g. %s\n", k, r.Samples[k])
	}
	fmt.Fprintf(w, "faults injected:%s\n", countList(r.Faults))
	if len(r.FaultErrors) > 0 {
		fmt.Fprintf(w, "faults failed:%s\n", countList(r.FaultErrors))
	}
	fmt.Fprintf(w, "hostile connections:%s\n", countList(r.Hostile))
	for _, l := range r.Extra {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "peak RSS:           %s (this process), %s (plugin processes together), %s (largest plugin process)\n",
		mib(r.PeakRSS), mib(r.PeakChildRSS), mib(r.PeakChild))
	switch {
	case r.Interrupted:
		fmt.Fprintln(w, "result:             INTERRUPTED: the requests in flight were abandoned")
	case r.OK():
		fmt.Fprintln(w, "result:             OK: every request got exactly one answer")
	default:
		fmt.Fprintln(w, "result:             FAILED: requests lost or answered wrongly")
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func countList(m map[string]int64) string {
	if len(m) == 0 {
		return " none"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d", k, m[k])
	}
	return b.String()
}

// Tally holds the counts of a run; the faults of Faults add to it.
type Tally struct{ t *tally }

// NewTally returns an empty Tally.
func NewTally() *Tally { return &Tally{t: newTally()} }

// tally collects counts from many goroutines.
type tally struct {
	sent, answered, errAnswers         atomic.Int64
	unanswered, duplicated, mismatched atomic.Int64

	mu          sync.Mutex
	errors      map[string]int64
	samples     map[string]string
	faults      map[string]int64
	faultErrors map[string]int64
	hostile     map[string]int64
}

func newTally() *tally {
	return &tally{errors: map[string]int64{}, samples: map[string]string{}, faults: map[string]int64{},
		faultErrors: map[string]int64{}, hostile: map[string]int64{}}
}

func (t *tally) addError(kind, sample string, n int64) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	if t.errors[kind] == 0 && sample != "" {
		t.samples[kind] = sample
	}
	t.errors[kind] += n
	t.mu.Unlock()
}

// errorAnswer counts an {"error": ...} answer by what it says.
func (t *tally) errorAnswer(err error) {
	t.errAnswers.Add(1)
	t.addError(ErrorKind(err.Error()), err.Error(), 1)
}

func (t *tally) count(m map[string]int64, k string) {
	t.mu.Lock()
	m[k]++
	t.mu.Unlock()
}

// report returns the counts as a Report that lasted d. The run's
// goroutines must have ended: the maps are the tally's own.
func (t *tally) report(d time.Duration) *Report {
	return &Report{
		Duration:     d,
		Sent:         t.sent.Load(),
		Answered:     t.answered.Load(),
		ErrorAnswers: t.errAnswers.Load(),
		Unanswered:   t.unanswered.Load(),
		Duplicated:   t.duplicated.Load(),
		Mismatched:   t.mismatched.Load(),
		Errors:       t.errors,
		Samples:      t.samples,
		Faults:       t.faults,
		FaultErrors:  t.faultErrors,
		Hostile:      t.hostile,
	}
}

// ErrorKind names the kind of an error answer's text, for the report.
func ErrorKind(text string) string {
	for _, k := range []struct{ substr, kind string }{
		{"plugin exited", "answer: plugin exited"},
		{"plugin is restarting", "answer: plugin restarting"},
		{"plugin failed", "answer: plugin failed (restart limit)"},
		{"plugin stopped", "answer: plugin stopped"},
		{"timed out", "answer: handler timed out"},
		{"too many connections", "answer: too many connections"},
	} {
		if strings.Contains(text, k.substr) {
			return k.kind
		}
	}
	return "answer: other"
}
