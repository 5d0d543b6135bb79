package plugins_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/cputime"
	"github.com/msgrouter/router/internal/loadgen"
	"github.com/msgrouter/router/plugins"
)

// BenchmarkPluginPath compares the same handler in process and in a plugin
// process, behind a real Server on loopback, for each load shape:
//
//	go test ./plugins -run '^$' -bench PluginPath -benchtime 100000x
//
// Compare req/s and p50 between the inprocess and plugin rows of a shape.
// The plugin rows report their rate over the in-process run just before
// (x-inprocess), their extra p50, and the same ratio for CPU time per
// request, plugin process included (x-inprocess-cpu), which moves less
// when other work shares the machine.
func BenchmarkPluginPath(b *testing.B) {
	p, err := plugins.Start(context.Background(), plugins.Config{
		Name: "bench", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic"},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	remote, err := p.Handler("upper")
	if err != nil {
		b.Fatal(err)
	}
	local := testHandlers()["upper"]
	req, err := core.Marshal(core.NewBinary("text/plain", []byte("the quick brown fox jumps over the lazy dog")))
	if err != nil {
		b.Fatal(err)
	}
	for _, shape := range []struct{ conns, depth int }{{64, 16}, {64, 1}, {1, 1}} {
		// The in-process run just before the plugin's is its baseline:
		// the plugin reports its rate over it, and its extra p50.
		var localRate, localP50, localCPU float64
		for _, where := range []struct {
			name string
			h    core.Handler
		}{{"inprocess", local}, {"plugin", remote}} {
			b.Run(fmt.Sprintf("%s/conns=%d/depth=%d", where.name, shape.conns, shape.depth), func(b *testing.B) {
				mux, err := core.NewMux(core.Route{ContentType: "text/plain", Handler: where.h})
				if err != nil {
					b.Fatal(err)
				}
				s := &core.Server{Handler: mux}
				l, err := core.Listen(context.Background(), "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				go s.Serve(l)
				defer s.Close()
				b.ResetTimer()
				cpu0 := (cputime.Self() + cputime.Children())
				res, err := loadgen.Run(context.Background(), loadgen.Options{
					Addr: l.Addr().String(), Request: req,
					Conns: shape.conns, Depth: shape.depth, Requests: int64(b.N),
				})
				if err != nil {
					b.Fatal(err)
				}
				cpu := float64(((cputime.Self() + cputime.Children()) - cpu0).Nanoseconds()) / float64(b.N)
				rate, p50 := res.Rate(), float64(res.Quantile(0.5).Microseconds())
				b.ReportMetric(rate, "req/s")
				b.ReportMetric(p50, "p50-µs")
				b.ReportMetric(cpu, "cpu-ns/req")
				if where.name == "inprocess" {
					localRate, localP50, localCPU = rate, p50, cpu
				} else if localRate > 0 {
					b.ReportMetric(rate/localRate, "x-inprocess")
					b.ReportMetric(p50-localP50, "extra-p50-µs")
					if cpu > 0 {
						b.ReportMetric(localCPU/cpu, "x-inprocess-cpu")
					}
				}
			})
		}
	}
}

// BenchmarkPluginStart measures how long a plugin takes from Start to its
// first answer, alone and three at once (as `router serve` starts the
// built-ins):
//
//	go test ./plugins -run '^$' -bench PluginStart -benchtime 30x
//
// p50-ms is the median over the runs; the target is 30 ms for one and
// 100 ms for three. The whole router's start, to its "listening" log line
// with the built-ins as plugin processes, is measured by
//
//	go build -o /tmp/router ./cmd/router
//	plugins/testdata/startup.sh /tmp/router 30
//	plugins/testdata/startup.sh /tmp/router 30 --in-process
func BenchmarkPluginStart(b *testing.B) {
	req := core.NewBinary("text/plain", []byte("ping"))
	startOne := func(b *testing.B, name string) *plugins.Process {
		p, err := plugins.Start(context.Background(), plugins.Config{
			Name: name, Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic"},
			HealthInterval: -1,
		})
		if err != nil {
			b.Error(err)
			return nil
		}
		h, err := p.Handler("upper")
		if err == nil {
			_, err = h.Handle(context.Background(), req)
		}
		if err != nil {
			b.Error(err)
		}
		return p
	}
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("plugins=%d", n), func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				procs := make([]*plugins.Process, n)
				var wg sync.WaitGroup
				for i := range procs {
					wg.Go(func() { procs[i] = startOne(b, fmt.Sprint("p", i)) })
				}
				wg.Wait()
				times = append(times, time.Since(t0))
				b.StopTimer()
				for _, p := range procs {
					if p != nil {
						p.Shutdown(context.Background())
					}
				}
				b.StartTimer()
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*9/10].Microseconds())/1000, "p90-ms")
		})
	}
}
