package plugintest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/msgrouter/router/core"
)

// wire returns m as it arrives after encoding, with every default set.
func wire(m *core.Message) (*core.Message, error) {
	b, err := core.Marshal(m)
	if err != nil {
		return nil, err
	}
	return core.Unmarshal(b)
}

// check compares an answer or error with what the case wants.
func (tc *testCase) check(ans *core.Message, err error) error {
	if tc.WantError != "" {
		switch {
		case err == nil:
			return fmt.Errorf("answer %s, want an error containing %q", describe(ans), tc.WantError)
		case !strings.Contains(err.Error(), tc.WantError):
			return fmt.Errorf("error %q, want an error containing %q", err, tc.WantError)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("error %q, want an answer", err)
	}
	if ans == nil {
		return errors.New("no answer and no error")
	}
	want := tc.want
	if want == nil {
		return nil
	}
	var diffs []string
	field := func(name, got, want string) {
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s %q, want %q", name, got, want))
		}
	}
	field("content-type", ans.ContentType, want.ContentType)
	field("content-encoding", ans.ContentEncoding, want.ContentEncoding)
	if tc.Want.ByteOrder != "" {
		field("byteorder", ans.ByteOrder, want.ByteOrder)
	}
	for _, h := range want.Headers {
		got, ok := ans.RawHeader(h.Key)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("no header %q, want %s", h.Key, h.Value))
		case !bytes.Equal(got, h.Value):
			diffs = append(diffs, fmt.Sprintf("header %q is %s, want %s", h.Key, got, h.Value))
		}
	}
	if !bytes.Equal(ans.Content, want.Content) {
		diffs = append(diffs, "content "+diffContent(ans.Content, want.Content))
	}
	if len(diffs) > 0 {
		return errors.New("wrong answer: " + strings.Join(diffs, "; "))
	}
	return nil
}

// describe shows an answer in a failure.
func describe(m *core.Message) string {
	if m == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s %s %s", m.ContentType, m.ContentEncoding, quote(m.Content))
}

const maxShown = 200 // bytes of content shown in a failure

func quote(b []byte) string {
	if len(b) > maxShown {
		return fmt.Sprintf("%q... (%d bytes)", b[:maxShown], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// diffContent describes how got differs from want.
func diffContent(got, want []byte) string {
	if len(got) <= maxShown && len(want) <= maxShown {
		return fmt.Sprintf("%q, want %q", got, want)
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-20)
	return fmt.Sprintf("of %d bytes differs from the %d wanted at byte %d: %q, want %q",
		len(got), len(want), i, clip(got[from:]), clip(want[from:]))
}

func clip(b []byte) []byte {
	return b[:min(len(b), 60)]
}
