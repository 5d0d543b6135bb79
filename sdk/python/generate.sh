#!/bin/sh
# Regenerates the protobuf code of the Python SDK (routerplugin/_pb) with
# Debian's protoc 3.21 (apt-get install protobuf-compiler), which matches
# Debian's python3-protobuf. The gRPC stubs are not generated (Debian's
# grpc tools are too old): routerplugin/_control.py binds the services by
# hand with grpc's generic handlers.
#
# Run from anywhere: sh sdk/python/generate.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/routerplugin/_pb"
protoc --version
protoc -I "$root/plugins/internal/pluginpb" --python_out="$out" "$root/plugins/internal/pluginpb/plugin.proto"
protoc -I "$here/proto" --python_out="$out" "$here/proto/health.proto" "$here/proto/controller.proto"
