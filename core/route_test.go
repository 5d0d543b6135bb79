package core

import "testing"

// ShadowedBy is the one rule of route shadowing, for the Mux and the
// config alike.
func TestRouteShadowedBy(t *testing.T) {
	for _, tt := range []struct {
		prev, r Route
		want    Shadow
	}{
		{Route{}, Route{Action: "x"}, ShadowCatchAll},
		{Route{ContentType: "**"}, Route{ContentType: "text/json"}, ShadowCatchAll},
		{Route{Action: "x"}, Route{Action: "x"}, ShadowDuplicate},
		{Route{Action: "x"}, Route{Action: "x", ContentType: "*"}, ShadowDuplicate},
		{Route{Action: "x", ContentType: "text/json"}, Route{Action: "x", ContentType: "text/json"}, ShadowDuplicate},
		{Route{ContentType: "text/*"}, Route{ContentType: "text/plain"}, ShadowCovered},
		{Route{ContentType: "text/*"}, Route{Action: "x", ContentType: "text/plain"}, ShadowCovered},
		{Route{ContentType: "text/json"}, Route{Action: "x", ContentType: "text/json"}, ShadowCovered},
		{Route{Action: "x"}, Route{Action: "y"}, ShadowNone},
		{Route{Action: "x"}, Route{}, ShadowNone},
		{Route{ContentType: "text/plain"}, Route{ContentType: "text/*"}, ShadowNone},
		{Route{ContentType: "text/*"}, Route{ContentType: "*json"}, ShadowNone}, // two globs: undecided
		{Route{ContentType: "text/json"}, Route{ContentType: "text/plain"}, ShadowNone},
		{Route{Action: "x", ContentType: "text/*"}, Route{ContentType: "text/plain"}, ShadowNone},
	} {
		if got := tt.r.ShadowedBy(tt.prev); got != tt.want {
			t.Errorf("(%s).ShadowedBy(%s) = %d, want %d", tt.r, tt.prev, got, tt.want)
		}
	}
}
