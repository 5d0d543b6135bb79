package echo_test

import (
	"context"
	"fmt"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/echo"
)

func Example() {
	req := &core.Message{
		ByteOrder:       "big",
		ContentType:     "application/x-point",
		ContentEncoding: "binary",
		Content:         []byte{0, 0, 0, 7, 0, 0, 0, 9},
	}
	ans, err := echo.New().Handle(context.Background(), req)
	if err != nil {
		panic(err)
	}
	fmt.Println(ans.ByteOrder, ans.ContentType, ans.ContentEncoding, ans.Content)
	// Output: big application/x-point binary [0 0 0 7 0 0 0 9]
}
