package binary_test

import (
	"context"
	"fmt"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/binary"
)

func Example() {
	h := binary.New()
	for _, content := range []string{"binaryhello world", "xy", ""} {
		req := core.NewBinary("binary/custom-client-binary-type", []byte(content))
		ans, err := h.Handle(context.Background(), req)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s %q\n", ans.ContentType, ans.ContentEncoding, ans.Content)
	}
	// Output:
	// binary/custom-server-binary-type binary "First 10 bytes of request: binaryhell"
	// binary/custom-server-binary-type binary "First 10 bytes of request: xy"
	// binary/custom-server-binary-type binary "First 10 bytes of request: "
}
