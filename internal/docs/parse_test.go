package docs

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	md := "text\n" +
		"```console\n" +
		"$ router send search x   # exit 1\n" +
		"router: no\n" +
		"$ echo hi\n" +
		"hi\n" +
		"```\n" +
		"<!-- docs: file a.yaml -->\n" +
		"  ```yaml\n" +
		"  a: 1\n" +
		"  ```\n" +
		"<!-- docs: skip CI runs it -->\n" +
		"```sh\n" +
		"go test ./...   # all\n" +
		"```\n" +
		"<!-- docs: server-log -->\n" +
		"```text\n" +
		"listening\n" +
		"```\n" +
		"<!-- docs: skip lost -->\n" +
		"a paragraph between ends the directive\n" +
		"```sh\n" +
		"# a comment\n" +
		"ls\n" +
		"```\n"
	blocks := parse("f.md", []byte(md))
	if len(blocks) != 5 {
		t.Fatalf("%d blocks, want 5: %+v", len(blocks), blocks)
	}
	got := blocks[0].commands()
	want := []command{
		{where: "f.md:3", text: "router send search x   # exit 1", want: []string{"router: no"}, exitCode: 1},
		{where: "f.md:5", text: "echo hi", want: []string{"hi"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("console commands\n got %+v\nwant %+v", got, want)
	}
	if b := blocks[1]; b.writeTo != "a.yaml" || b.lang != "yaml" || !reflect.DeepEqual(b.body, []string{"  a: 1"}) {
		t.Errorf("file block %+v", b)
	}
	if b := blocks[2]; b.skip != "CI runs it" || len(b.commands()) != 1 {
		t.Errorf("skipped block %+v", b)
	}
	if b := blocks[3]; !b.serverLog || b.body[0] != "listening" {
		t.Errorf("server-log block %+v", b)
	}
	if b := blocks[4]; b.skip != "" || len(b.commands()) != 1 || b.commands()[0].text != "ls" {
		t.Errorf("last block %+v, commands %+v", b, b.commands())
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		out  string
		want []string
		miss string
	}{
		{"a\nb\nc\n", []string{"a", "...", "c"}, ""},
		{"a\nb\nc\n", []string{"  b  ", ""}, ""},
		{"a\nb\n", []string{"b", "a"}, "a"}, // in order
		{"a\n", []string{"z"}, "z"},
	}
	for _, tt := range tests {
		if got := match(tt.out, tt.want); got != tt.miss {
			t.Errorf("match(%q, %q) = %q, want %q", tt.out, tt.want, got, tt.miss)
		}
	}
}

func TestWorks(t *testing.T) {
	for cmd, want := range map[string]bool{
		"router worker -c worker.yaml":                     true,
		"ROUTER_NATS_URL=nats://h:4222 router worker -c w": true,
		"router serve -c router.yaml":                      false,
		"router help worker":                               false,
	} {
		if got := works.MatchString(cmd); got != want {
			t.Errorf("works(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestServes(t *testing.T) {
	for cmd, want := range map[string]bool{
		"router serve":                       true,
		"./router serve -c router.yaml":      true,
		"embed -listen 127.0.0.1:7000":       true,
		"router send search x":               false,
		"router config check router.yaml":    false,
		"go build -o router ./cmd/router":    false,
		rewrite("go run ./cmd/router serve"): true,
	} {
		if got := serves.MatchString(cmd); got != want {
			t.Errorf("serves(%q) = %v, want %v", cmd, got, want)
		}
	}
}
