package core_test

import (
	"testing"

	"github.com/msgrouter/router/core"
)

func TestAnswerError(t *testing.T) {
	tests := []struct {
		name, ct, content string
		want              string // the error's text; "" for none
	}{
		{"error answer", "text/json", `{"error": "no route"}`, "no route"},
		{"escaped key", "text/json", `{"\u0065rror": "escaped"}`, "escaped"},
		{"error not first", "text/json", `{"a": 1, "error": {"code": 2}}`, `{"code": 2}`},
		{"result", "text/json", `{"result": "an error of judgement"}`, ""},
		{"error as a value", "text/json", `{"result": "error"}`, ""},
		{"not JSON", "text/plain", `{"error": "x"}`, ""},
		{"invalid JSON", "text/json", `{"error": `, ""},
		{"not an object", "text/json", `["error"]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := core.AnswerError(&core.Message{ContentType: tt.ct, Content: []byte(tt.content)})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("AnswerError = %v, want nil", err)
			case tt.want != "" && (err == nil || err.(*core.RemoteError).Text != tt.want):
				t.Errorf("AnswerError = %v, want the text %q", err, tt.want)
			}
		})
	}
}
