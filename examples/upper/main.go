// Command upper is a complete router plugin: it upper-cases text.
//
// The JSON request {"action": "upper", "value": "hello"} is answered
// {"result": "HELLO"}, and a "text/plain" request with its content
// upper-cased. The setting "suffix", if the router's config gives one, is
// appended to every answer.
//
// Build it with
//
//	go build -o upper ./examples/upper
//
// and see README.md for running it from the router.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

func main() {
	plugins.ServePlugin(&plugins.Plugin{
		Name: "upper",
		Handlers: []plugins.HandlerSpec{{
			// The handler serves the JSON action of its name, "upper"
			// (Actions is nil), and the content-type "text/plain".
			Name:         "upper",
			ContentTypes: []string{"text/plain"},
			Handler:      &upper{},
		}},
	})
}

// log writes hclog JSON to stderr, which the router re-emits under the
// plugin's name; stdout belongs to the plugin handshake.
var log = plugins.Logger()

// upper is the plugin's one handler.
type upper struct {
	suffix string // set by Init, before the first request
}

// Init receives the plugin's settings from the router before the first
// request (upper is a plugins.Initializer). An error stops the plugin
// from starting, and the router reports it.
func (u *upper) Init(_ context.Context, settings map[string]any) error {
	if v, ok := settings["suffix"]; ok {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("setting suffix: want a string, got %T", v)
		}
		u.suffix = s
	}
	log.Info("ready", "suffix", u.suffix)
	return nil
}

// Handle answers a JSON request {"result": VALUE}, VALUE upper-cased, and
// any other request with its content upper-cased.
func (u *upper) Handle(_ context.Context, req *core.Message) (*core.Message, error) {
	if !req.IsJSON() {
		ans := core.NewBinary("text/plain", append(bytes.ToUpper(req.Content), u.suffix...))
		ans.ContentEncoding = core.EncodingUTF8
		return ans, nil
	}
	if action, err := req.Action(); err != nil {
		return nil, err
	} else if action != "upper" {
		return nil, fmt.Errorf("upper: invalid action %q", action)
	}
	raw, _, _ := req.Field("value") // Action has checked the content
	var value string
	// A JSON null would unmarshal into "" without an error: check the
	// kind first.
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &value) != nil {
		return nil, errors.New(`upper: the request needs a string "value"`)
	}
	// core.NewJSON writes the reference's layout: {"result": "HELLO"}.
	return core.NewJSON(core.Object{{Key: "result", Value: strings.ToUpper(value) + u.suffix}})
}
