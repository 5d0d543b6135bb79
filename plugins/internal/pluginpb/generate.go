// Package pluginpb holds the generated protobuf and gRPC code of the
// control channel between the router and its plugin processes.
//
// The generated files are committed; regenerating needs protoc (Debian's
// protobuf-compiler) and the Go generators:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest
//	go generate ./plugins/...
package pluginpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
