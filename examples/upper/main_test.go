package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
	"github.com/msgrouter/router/plugins/plugintest"
)

func TestUpper(t *testing.T) {
	bin := plugintest.Build(t, ".")
	cases := []plugintest.Case{
		{
			Name:    "json",
			Handler: "upper",
			Request: plugintest.Action("upper", "hello"),
			// The reference layout, byte for byte.
			Want: &core.Message{ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"result": "HELLO"}`)},
		},
		{Name: "json unicode", Handler: "upper", Request: plugintest.Action("upper", "héllo 🐶"), Want: plugintest.Result("HÉLLO 🐶")},
		{Name: "text", Handler: "upper", Request: plugintest.Text("text/plain", "hello, world"), Want: plugintest.Text("text/plain", "HELLO, WORLD")},
		{Name: "empty text", Handler: "upper", Request: plugintest.Text("text/plain", ""), Want: plugintest.Text("text/plain", "")},
		{Name: "no value", Handler: "upper", Request: plugintest.JSON(core.Object{{Key: "action", Value: "upper"}}), WantError: `upper: the request needs a string "value"`},
		{Name: "number value", Handler: "upper", Request: plugintest.Action("upper", 42), WantError: `upper: the request needs a string "value"`},
		{Name: "null value", Handler: "upper", Request: plugintest.Action("upper", nil), WantError: `upper: the request needs a string "value"`},
		{Name: "not JSON", Handler: "upper", Request: &core.Message{ContentType: "text/json", Content: []byte("hello")}, WantError: "invalid JSON content", Unrouted: true},
		{Name: "other action", Handler: "upper", Request: plugintest.Action("search", "x"), WantError: `upper: invalid action "search"`, Unrouted: true},
	}

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		info := plugintest.Run(t, plugintest.Config{Cmd: bin, Handlers: []string{"upper"}}, cases...)
		if info.Name != "upper" {
			t.Errorf("plugin name %q, want upper", info.Name)
		}
	})

	t.Run("suffix", func(t *testing.T) {
		t.Parallel()
		plugintest.Run(t, plugintest.Config{Cmd: bin, Settings: map[string]any{"suffix": "!"}},
			plugintest.Case{Handler: "upper", Request: plugintest.Action("upper", "hello"), Want: plugintest.Result("HELLO!")},
			plugintest.Case{Handler: "upper", Request: plugintest.Text("text/plain", "hello"), Want: plugintest.Text("text/plain", "HELLO!")},
		)
	})

	t.Run("bad settings", func(t *testing.T) {
		t.Parallel()
		p, err := plugins.Start(context.Background(), plugins.Config{Name: "upper", Cmd: bin, Settings: map[string]any{"suffix": 3}})
		if err == nil {
			p.Shutdown(context.Background())
			t.Fatal("the plugin started with a number as its suffix")
		}
		if !errors.Is(err, plugins.ErrStart) || !strings.Contains(err.Error(), "setting suffix: want a string, got float64") {
			t.Errorf("Start = %v", err)
		}
	})
}
