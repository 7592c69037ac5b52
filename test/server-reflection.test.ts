import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { EventRoutingService } from "../gen/eventrouting/v1/event_routing_service_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import { reflectionService } from "../src/server/reflection.js";

async function ask(requests: Array<ServerReflectionRequest["messageRequest"]>): Promise<ServerReflectionResponse[]> {
  const services = [EventRoutingService, Health, ServerReflection];
  const client = createClient(
    ServerReflection,
    createRouterTransport((r) => r.service(ServerReflection, reflectionService(services))),
  );
  const out: ServerReflectionResponse[] = [];
  async function* send() {
    for (const messageRequest of requests) yield create(ServerReflectionRequestSchema, { messageRequest });
  }
  for await (const res of client.serverReflectionInfo(send())) out.push(res);
  return out;
}

const fileNames = (res: ServerReflectionResponse | undefined): string[] =>
  res?.messageResponse.case === "fileDescriptorResponse"
    ? res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name)
    : [];

describe("reflection", () => {
  it("lists the services it was given", async () => {
    const [res] = await ask([{ case: "listServices", value: "" }]);
    assert.equal(res?.messageResponse.case, "listServicesResponse");
    assert.deepEqual(
      res.messageResponse.value.service.map((s) => s.name),
      ["eventrouting.v1.EventRoutingService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"],
    );
  });

  it("answers symbols (services, methods, nested messages) with the file first and its imports once per stream", async () => {
    const [svc, method, again] = await ask([
      { case: "fileContainingSymbol", value: "eventrouting.v1.EventRoutingService" },
      { case: "fileContainingSymbol", value: "eventrouting.v1.EventRoutingService.Emit" },
      { case: "fileByFilename", value: "eventrouting/v1/event.proto" },
    ]);
    const first = fileNames(svc);
    assert.equal(first[0], "eventrouting/v1/event_routing_service.proto");
    assert.ok(first.includes("eventrouting/v1/event.proto"));
    assert.ok(first.includes("google/protobuf/timestamp.proto"));
    // Already sent on this stream: only the requested file itself comes back.
    assert.deepEqual(fileNames(method), ["eventrouting/v1/event_routing_service.proto"]);
    assert.deepEqual(fileNames(again), ["eventrouting/v1/event.proto"]);
  });

  it("reports unknown symbols and files in-band as NOT_FOUND", async () => {
    const [sym, file] = await ask([
      { case: "fileContainingSymbol", value: "nope.v1.Nope" },
      { case: "fileByFilename", value: "nope.proto" },
    ]);
    for (const res of [sym, file]) {
      assert.equal(res?.messageResponse.case, "errorResponse");
      assert.equal(res.messageResponse.value.errorCode, 5);
    }
  });
});
