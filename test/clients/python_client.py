#!/usr/bin/python3
"""A real polyglot client: Debian's python3-grpcio calls Emit and Transform on a running event-routing server.

Message classes are built at run time from a descriptor set (`buf build -o x.binpb`), so no generated Python
code is committed. Prints one JSON document with what each call returned; exit code 0 when every call behaved.

Usage: python_client.py HOST:PORT DESCRIPTOR_SET.binpb TOKEN EVENT.json
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def message_classes(descriptor_set_path, names):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set_path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in fds.file:
        pool.Add(file_proto)
    factory = message_factory.MessageFactory(pool)
    return {n: factory.GetPrototype(pool.FindMessageTypeByName("eventrouting.v1." + n)) for n in names}


def main():
    target, descriptor_set_path, token, event_path = sys.argv[1:5]
    m = message_classes(descriptor_set_path, ["EmitRequest", "EmitResponse", "TransformRequest", "TransformResponse"])
    channel = grpc.insecure_channel(target)

    def unary(method, response_class):
        return channel.unary_unary(
            "/eventrouting.v1.EventRoutingService/" + method,
            request_serializer=lambda msg: msg.SerializeToString(),
            response_deserializer=response_class.FromString,
        )

    auth = [("authorization", "Bearer " + token)]
    with open(event_path) as f:
        event_json = f.read()
    out = {}

    emit_request = m["EmitRequest"]()
    emit_request.event.json = event_json
    out["emit"] = json_format.MessageToDict(unary("Emit", m["EmitResponse"])(emit_request, metadata=auth, timeout=10))

    transform_request = m["TransformRequest"]()
    transform_request.event.json = event_json
    out["transform"] = json_format.MessageToDict(unary("Transform", m["TransformResponse"])(transform_request, metadata=auth, timeout=10))

    try:
        unary("Emit", m["EmitResponse"])(m["EmitRequest"](), metadata=auth, timeout=10)
        out["invalid"] = "no error"
    except grpc.RpcError as e:
        out["invalid"] = {"code": e.code().name, "details": e.details()}

    try:
        unary("Emit", m["EmitResponse"])(emit_request, timeout=10)
        out["unauthenticated"] = "no error"
    except grpc.RpcError as e:
        out["unauthenticated"] = {"code": e.code().name}

    print(json.dumps(out))


if __name__ == "__main__":
    main()
