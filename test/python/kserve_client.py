"""KServe v2 ModelInfer client written the way the NVCF gRPC product page's Python example is.

Calls the `add_one` model through a gRPC gateway (Switchyard's grpc-proxy, or a sample server
directly), then resumes the session with the `nvcf-reqid` it was given and calls `echo`.

Environment:
  GRPC_GATEWAY_ADDR    gateway host (required)
  GRPC_GATEWAY_PORT    gateway port (default 10081)
  GRPC_GATEWAY_CA      PEM CA file: connect with grpc.secure_channel(..., grpc.ssl_channel_credentials(ca))
                       as the product page does (default: plaintext)
  FUNCTION_ID, FUNCTION_VERSION_ID, API_KEY   sent as metadata (required)
  EXPECT_SESSION=1     require an nvcf-reqid and that the second call reaches the same session
  KSERVE_GEN_DIR       directory of the generated modules (default: test/python/gen; see gen.sh)

Prints one JSON line with what it saw; exits 0 on success, 1 with a message on stderr otherwise.
Run with /usr/bin/python3 (Debian's python3-grpcio), e.g.:
  test/python/gen.sh && GRPC_GATEWAY_ADDR=127.0.0.1 ... /usr/bin/python3 test/python/kserve_client.py
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.environ.get("KSERVE_GEN_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen")))

import grpc  # noqa: E402

import grpc_service_pb2  # noqa: E402
import grpc_service_pb2_grpc  # noqa: E402


class ClientFailure(Exception):
    """A check the client makes did not hold."""


def add_one_request(values):
    request = grpc_service_pb2.ModelInferRequest(model_name="add_one", id="kserve-client-1")
    tensor = request.inputs.add(name="INPUT0", datatype="FP32", shape=[len(values)])
    tensor.contents.fp32_contents.extend(values)
    return request


def echo_request(raw):
    request = grpc_service_pb2.ModelInferRequest(model_name="echo", id="kserve-client-2")
    request.inputs.add(name="INPUT0", datatype="UINT8", shape=[len(raw)])
    request.raw_input_contents.append(raw)
    return request


def param(response, key):
    p = response.parameters.get(key)
    if p is None:
        return None
    choice = p.WhichOneof("parameter_choice")
    return getattr(p, choice) if choice else None


def call_grpc(expect_session):
    port = os.environ.get("GRPC_GATEWAY_PORT", "10081")
    target = f"{os.environ['GRPC_GATEWAY_ADDR']}:{port}"
    ca_file = os.environ.get("GRPC_GATEWAY_CA")
    if ca_file:
        with open(ca_file, "rb") as f:
            channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(f.read()))
    else:
        channel = grpc.insecure_channel(target)
    try:
        grpc_client = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)

        metadata = [
            ("function-id", os.environ["FUNCTION_ID"]),
            ("function-version-id", os.environ["FUNCTION_VERSION_ID"]),
            ("authorization", f"Bearer {os.environ['API_KEY']}"),
        ]

        # First call: no request ID. The proxy creates a session.
        values = [1.0, 2.5, -1.0]
        response, call = grpc_client.ModelInfer.with_call(add_one_request(values), metadata=metadata)
        request_id = dict(call.initial_metadata()).get("nvcf-reqid")
        outputs = list(response.outputs[0].contents.fp32_contents)
        if outputs != [v + 1 for v in values]:
            raise ClientFailure(f"add_one returned {outputs} for {values}")
        if response.id != "kserve-client-1":
            raise ClientFailure(f"response id {response.id!r} is not the request id")

        # Subsequent calls: pass the request ID to resume the session.
        if request_id:
            metadata.append(("nvcf-reqid", request_id))
        elif expect_session:
            raise ClientFailure("no nvcf-reqid in the initial metadata of the first call")
        raw = bytes([7, 8, 9])
        next_response, next_call = grpc_client.ModelInfer.with_call(echo_request(raw), metadata=metadata)
        echoed = next_response.raw_output_contents[0] if next_response.raw_output_contents else b""
        if echoed != raw:
            raise ClientFailure(f"echo returned {list(echoed)} for {list(raw)}")

        seen = {
            "ok": True,
            "request_ids": [request_id, dict(next_call.initial_metadata()).get("nvcf-reqid")],
            "container_request_ids": [param(response, "nvcf-reqid"), param(next_response, "nvcf-reqid")],
            "instance_ids": [param(response, "instance_id"), param(next_response, "instance_id")],
            "session_calls": [param(response, "session_calls"), param(next_response, "session_calls")],
            "outputs": {"add_one": outputs, "echo": list(echoed)},
        }
        if expect_session:
            check_same_session(request_id, seen)
        return seen
    finally:
        channel.close()


def check_same_session(request_id, seen):
    if seen["request_ids"][1] not in (None, request_id):
        raise ClientFailure(f"resumed call got nvcf-reqid {seen['request_ids'][1]}, expected {request_id}")
    if seen["container_request_ids"] != [request_id, request_id]:
        raise ClientFailure(f"container saw request ids {seen['container_request_ids']}, expected {request_id}")
    first, second = seen["instance_ids"]
    if not first or first != second:
        raise ClientFailure(f"resumed call reached instance {second}, first call reached {first}")
    calls = seen["session_calls"]
    if not (calls[0] and calls[1] and calls[1] > calls[0]):
        raise ClientFailure(f"session call counts {calls} do not show one session")


def main():
    expect_session = os.environ.get("EXPECT_SESSION") == "1"
    try:
        seen = call_grpc(expect_session)
    except KeyError as err:
        print(f"kserve_client: missing environment variable {err}", file=sys.stderr)
        return 1
    except grpc.RpcError as err:
        print(f"kserve_client: call failed with {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except ClientFailure as err:
        print(f"kserve_client: {err}", file=sys.stderr)
        return 1
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
