#!/bin/sh
# Generates the Python gRPC modules for the sample protos (grpc_service_pb2*.py, echo_pb2*.py)
# into the directory given as the only argument (default: test/python/gen, git-ignored).
# Uses Debian's /usr/bin/python3 with python3-grpcio and python3-grpc-tools, never a pyenv python.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
protos="$here/../../packages/sample-functions/protos"
out=${1:-"$here/gen"}
python=${PYTHON:-/usr/bin/python3}

mkdir -p "$out"
"$python" -m grpc_tools.protoc -I "$protos" --python_out="$out" --grpc_python_out="$out" \
  "$protos/grpc_service.proto" "$protos/echo.proto"
