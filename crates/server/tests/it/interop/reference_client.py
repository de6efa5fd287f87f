"""Drives vibectl-server with the Python reference implementation's own generated gRPC stubs.

Usage: reference_client.py STUBS_DIR OUR_PROTO ADDR
STUBS_DIR holds vibectl/proto/llm_proxy_pb2{,_grpc}.py from the reference wheel. Prints one JSON
object with what the reference client saw; the Rust test asserts on it.
"""
import json
import os
import sys
import tempfile

stubs, our_proto, addr = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, stubs)

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402
from grpc_tools import protoc  # noqa: E402
from vibectl.proto import llm_proxy_pb2 as pb  # noqa: E402
from vibectl.proto import llm_proxy_pb2_grpc as pb_grpc  # noqa: E402


def fields(fd):
    return {
        m.name: [(f.number, f.name, f.type, f.label, f.proto3_optional, f.oneof_index if f.HasField("oneof_index") else -1) for f in m.field]
        for m in fd.message_type
    }


# 1. Our .proto, compiled by protoc (grpc_tools), describes exactly the reference's messages.
ref_fd = descriptor_pb2.FileDescriptorProto()
pb.DESCRIPTOR.CopyToProto(ref_fd)
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "set.pb")
    rc = protoc.main(["protoc", f"-I{os.path.dirname(our_proto)}", f"--descriptor_set_out={out}", os.path.basename(our_proto)])
    assert rc == 0, "protoc failed on our proto"
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
ours = fds.file[0]
result = {
    "same_package": ours.package == ref_fd.package,
    "same_messages": fields(ours) == fields(ref_fd),
    "same_methods": [(m.name, m.input_type, m.output_type, m.server_streaming) for m in ours.service[0].method]
    == [(m.name, m.input_type, m.output_type, m.server_streaming) for m in ref_fd.service[0].method],
}

# 2. The reference client talks to our server.
channel = grpc.insecure_channel(addr)
stub = pb_grpc.VibectlLLMProxyStub(channel)

resp = stub.Execute(pb.ExecuteRequest(system_fragments=["Be brief."], user_fragments=["ping"], model_name="claude-4-sonnet", request_id="py-1"), timeout=10)
result["execute"] = {
    "request_id": resp.request_id,
    "result": resp.WhichOneof("result"),
    "fields": [f.name for f, _ in resp.ListFields()],
    "success_fields": [f.name for f, _ in resp.success.ListFields()],
    "metrics_fields": [f.name for f, _ in resp.success.metrics.ListFields()],
    "text": resp.success.response_text,
    "model": resp.success.actual_model_used,
    "input_tokens": resp.success.metrics.input_tokens,
    "output_tokens": resp.success.metrics.output_tokens,
    "total_tokens": resp.success.metrics.total_tokens,
    "cost_usd": resp.success.metrics.cost_usd,
}

chunks = list(stub.StreamExecute(pb.ExecuteRequest(user_fragments=["count"], model_name="gpt-4o"), timeout=10))
result["stream"] = {
    "kinds": [c.WhichOneof("chunk_type") for c in chunks],
    "text": "".join(c.text_chunk for c in chunks if c.WhichOneof("chunk_type") == "text_chunk"),
    "complete_model": [c.complete.actual_model_used for c in chunks if c.WhichOneof("chunk_type") == "complete"],
    "request_ids": sorted({c.request_id for c in chunks}),
}

bad = stub.Execute(pb.ExecuteRequest(user_fragments=["x"], model_name="no-such-model"), timeout=10)
result["unknown_model"] = {"result": bad.WhichOneof("result"), "code": bad.error.error_code, "message": bad.error.error_message}

info = stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
result["info"] = {
    "models": [m.model_id for m in info.available_models],
    "aliases": dict(info.model_aliases),
    "default_model": info.default_model,
    "server_version": info.server_version,
    "has_limits": info.HasField("limits"),
}
print(json.dumps(result))
