package config

import (
	"testing"
	"time"
)

func TestCertStateAt(t *testing.T) {
	nb := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * 24 * time.Hour)
	for _, tt := range []struct {
		name string
		now  time.Time
		want certState
	}{
		{"before notBefore", nb.Add(-time.Second), certNotYetValid},
		{"at notBefore", nb, certValid},
		{"8 days before notAfter", na.Add(-8 * 24 * time.Hour), certValid},
		{"7 days before notAfter", na.Add(-certWarnWithin), certExpiring},
		{"3 days before notAfter", na.Add(-3 * 24 * time.Hour), certExpiring},
		{"at notAfter", na, certExpiring},
		{"after notAfter", na.Add(time.Second), certExpired},
	} {
		if got := certStateAt(nb, na, tt.now); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestApproxDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0 seconds"},
		{time.Second, "1 second"},
		{89 * time.Second, "89 seconds"},
		{150 * time.Second, "3 minutes"},
		{89 * time.Minute, "89 minutes"},
		{119 * time.Minute, "2 hours"},
		{2 * time.Hour, "2 hours"},
		{35 * time.Hour, "35 hours"},
		{48*time.Hour - time.Millisecond, "2 days"},
		{3*24*time.Hour + 5*time.Hour, "3 days"},
		{400 * 24 * time.Hour, "400 days"},
	} {
		if got := approxDuration(tt.d); got != tt.want {
			t.Errorf("approxDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
