// Package scrape fetches a Prometheus endpoint the way Prometheus does and
// flattens what it serves into sample names and values, for tests.
package scrape

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples maps a sample's name and labels, written
// `name{a="x",b="y"}` with the labels sorted (or just `name`), to its
// value. A histogram gives its _count and _sum.
type Samples map[string]float64

// Get scrapes url over HTTP and parses the text exposition format.
func Get(url string) (Samples, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	out := make(Samples)
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name + labels(m.GetLabel())
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Untyped != nil:
				out[key] = m.Untyped.GetValue()
			case m.Histogram != nil:
				out[name+"_count"+labels(m.GetLabel())] = float64(m.Histogram.GetSampleCount())
				out[name+"_sum"+labels(m.GetLabel())] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out, nil
}

func labels(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}
