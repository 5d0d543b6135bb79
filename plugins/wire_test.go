package plugins

import (
	"strconv"
	"testing"
)

// parseUint agrees with strconv.ParseUint in base 10.
func TestParseUint(t *testing.T) {
	for _, s := range []string{
		"", "0", "7", "007", "42", "1764480000000000000",
		"18446744073709551615", "18446744073709551616", "99999999999999999999",
		"-1", "+1", "1_000", "1.5", "1e3", " 1", "1 ", "0x10", `"1"`,
	} {
		want, err := strconv.ParseUint(s, 10, 64)
		got, ok := parseUint([]byte(s))
		if ok != (err == nil) || (ok && got != want) {
			t.Errorf("parseUint(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	}
}

func FuzzParseUint(f *testing.F) {
	f.Add("12345")
	f.Add("18446744073709551616")
	f.Fuzz(func(t *testing.T, s string) {
		want, err := strconv.ParseUint(s, 10, 64)
		got, ok := parseUint([]byte(s))
		if ok != (err == nil) || (ok && got != want) {
			t.Errorf("parseUint(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	})
}
