/**
 * grpc.reflection.v1 over the descriptors protoc-gen-es embeds, so `buf curl` and grpcurl work without a
 * schema. Hand-written: no reflection package exists for connect-es on npm.
 */
import { create, toBinary, type DescExtension, type DescFile, type DescService } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type ServerReflection,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";

const NOT_FOUND = 5; // google.rpc.Code.NOT_FOUND, as the reflection protocol reports errors in-band
const INVALID_ARGUMENT = 3;

interface Index {
  readonly files: Map<string, DescFile>;
  readonly symbols: Map<string, DescFile>;
  readonly extensions: Map<string, DescExtension[]>;
}

/**
 * `services` is read on every request (not copied), so a list completed after this call is served in full.
 */
export function reflectionService(services: readonly DescService[]): ServiceImpl<typeof ServerReflection> {
  let index: Index | undefined;
  let indexedCount = -1;
  const current = (): Index => {
    if (index === undefined || indexedCount !== services.length) {
      index = buildIndex(services);
      indexedCount = services.length;
    }
    return index;
  };
  return {
    async *serverReflectionInfo(requests) {
      // Per stream: a client that already has a file (e.g. a shared import) is not sent it again.
      const sent = new Set<string>();
      for await (const req of requests) yield answer(req, services, current(), sent);
    },
  };
}

function answer(req: ServerReflectionRequest, services: readonly DescService[], ix: Index, sent: Set<string>): ServerReflectionResponse {
  const base = { validHost: req.host, originalRequest: req };
  const files = (file: DescFile | undefined, what: string): ServerReflectionResponse =>
    file === undefined
      ? create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "errorResponse", value: { errorCode: NOT_FOUND, errorMessage: `${what} not found` } },
        })
      : create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file, sent) } },
        });
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: "listServicesResponse", value: { service: services.map((s) => ({ name: s.typeName })) } },
      });
    case "fileByFilename":
      return files(ix.files.get(r.value), `file ${r.value}`);
    case "fileContainingSymbol":
      return files(ix.symbols.get(r.value), `symbol ${r.value}`);
    case "fileContainingExtension": {
      const ext = ix.extensions.get(r.value.containingType)?.find((e) => e.number === r.value.extensionNumber);
      return files(ext?.file, `extension ${r.value.containingType}(${r.value.extensionNumber})`);
    }
    case "allExtensionNumbersOfType": {
      if (!ix.symbols.has(r.value)) return files(undefined, `type ${r.value}`);
      const numbers = (ix.extensions.get(r.value) ?? []).map((e) => e.number);
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } },
      });
    }
    default:
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: "errorResponse", value: { errorCode: INVALID_ARGUMENT, errorMessage: "unsupported request" } },
      });
  }
}

/** The file and its transitive imports not yet sent on this stream; the requested file always goes first. */
function withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
  const out: Uint8Array[] = [toBinary(FileDescriptorProtoSchema, file.proto)];
  sent.add(file.name);
  const visit = (f: DescFile): void => {
    for (const dep of f.dependencies) {
      if (sent.has(dep.name)) continue;
      sent.add(dep.name);
      out.push(toBinary(FileDescriptorProtoSchema, dep.proto));
      visit(dep);
    }
  };
  visit(file);
  return out;
}

function buildIndex(services: readonly DescService[]): Index {
  const ix: Index = { files: new Map(), symbols: new Map(), extensions: new Map() };
  const addFile = (file: DescFile): void => {
    if (ix.files.has(file.proto.name)) return;
    ix.files.set(file.proto.name, file);
    for (const dep of file.dependencies) addFile(dep);
    for (const t of nestedTypes(file)) {
      ix.symbols.set(t.typeName, file);
      switch (t.kind) {
        case "message":
          for (const f of t.fields) ix.symbols.set(`${t.typeName}.${f.name}`, file);
          for (const o of t.oneofs) ix.symbols.set(`${t.typeName}.${o.name}`, file);
          break;
        case "service":
          for (const m of t.methods) ix.symbols.set(`${t.typeName}.${m.name}`, file);
          break;
        case "extension": {
          const list = ix.extensions.get(t.extendee.typeName) ?? [];
          list.push(t);
          ix.extensions.set(t.extendee.typeName, list);
          break;
        }
      }
    }
  };
  for (const s of services) addFile(s.file);
  return ix;
}
