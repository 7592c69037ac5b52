import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import type { NatsConnection } from "@nats-io/transport-node";
import { DirectoryAdminService } from "../gen/eventrouting/v1/directory_admin_service_pb.js";
import { createDirectoryAdminService } from "../src/admin/directory-admin-service.js";
import { courseKey } from "../src/directory/course-record.js";
import { loadCoursesFile } from "../src/directory/courses-file.js";
import { parseCoursesCsv } from "../src/directory/csv.js";
import { KvCourseDirectory } from "../src/directory/kv-course-directory.js";
import { openDirectories, type KvDirectories } from "../src/directory/open-directories.js";
import { staticCourseDirectory } from "../src/directory/static-directories.js";
import { ValidationError } from "../src/errors.js";
import { connectNats } from "../src/nats/connection.js";
import { natsNames } from "../src/nats/names.js";
import { startNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { errorMappingInterceptor } from "../src/server/interceptors.js";

const names = natsNames("coursetest");
const COURSE = "course-v1:edX+DemoX+Demo_Course";

let nats: TestNatsServer;
let ncA: NatsConnection;
let ncB: NatsConnection;
let dirs: KvDirectories;
let other: KvCourseDirectory;
let tmp: string;
const waiters = new Map<string, () => void>();
let client: Client<typeof DirectoryAdminService>;

function invalidated(key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${key} not invalidated within 1 s`)), 1_000);
    waiters.set(key, () => {
      clearTimeout(t);
      waiters.delete(key);
      resolve();
    });
  });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "er-courses-"));
  writeFileSync(
    join(tmp, "courses.csv"),
    `course_id,name\n${COURSE},Demo from file\n"course-v1:MITx+6.002x+2026","Circuits, and Electronics"\n`,
  );
  nats = await startNatsServer();
  ncA = await connectNats({ servers: nats.url });
  ncB = await connectNats({ servers: nats.url });
  dirs = await openDirectories(ncA, names, { coursesFile: join(tmp, "courses.csv"), hmacSecret: "configured-secret-0123456789" });
  other = await KvCourseDirectory.open(ncB, names, { cache: { onInvalidate: (k) => waiters.get(k)?.() } });
  const transport = createRouterTransport(
    ({ service }) => service(DirectoryAdminService, createDirectoryAdminService({ identities: dirs.identities, courses: dirs.courses })),
    { router: { interceptors: [errorMappingInterceptor] } },
  );
  client = createClient(DirectoryAdminService, transport);
});

after(async () => {
  dirs?.close();
  other?.close();
  await ncA?.close();
  await ncB?.close();
  await nats?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("names come from COURSES_FILE until the bucket has one; unknown courses are undefined", async () => {
  assert.equal(await dirs.courses.courseName("course-v1:MITx+6.002x+2026"), "Circuits, and Electronics");
  assert.equal(await dirs.courses.courseName(COURSE), "Demo from file");
  assert.equal(await dirs.courses.courseName("course-v1:nobody+none+none"), undefined);
  assert.equal(await other.courseName(COURSE), undefined, "an instance without the file knows nothing yet");

  const dropped = invalidated(courseKey(COURSE));
  const res = await client.importCourses({ courses: [{ courseId: COURSE, name: "Demonstration Course" }] });
  assert.equal(res.imported, 1);
  assert.equal(await dirs.courses.courseName(COURSE), "Demonstration Course", "the bucket wins over the file");
  await dropped;
  assert.equal(await other.courseName(COURSE), "Demonstration Course", "the other instance sees the import");
});

test("CSV import through the admin service", async () => {
  const res = await client.importCourses({ csv: "course_id,name\ncourse-v1:A+B+C,Alpha\ncourse-v1:D+E+F,Delta\n" });
  assert.equal(res.imported, 2);
  assert.equal(await other.courseName("course-v1:D+E+F"), "Delta");
});

test("course errors name the row, field or line", async () => {
  const code = async (p: Promise<unknown>, part: string) =>
    assert.rejects(p, (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && e.rawMessage.includes(part));
  await code(
    client.importCourses({
      courses: [
        { courseId: "x", name: "ok" },
        { courseId: "", name: "n" },
      ],
    }),
    "courses[1].course_id",
  );
  await code(client.importCourses({ courses: [{ courseId: "x", name: "" }] }), "courses[0].name");
  await code(client.importCourses({ csv: "course_id,title\nx,y\n" }), "csv: line 1: expected the header exactly course_id,name");
  await code(client.importCourses({ csv: "course_id,name\nx,y\nz,\n" }), "csv: line 3: name");
  await code(client.importCourses({}), "courses");
  assert.equal(await other.courseName("x"), undefined, "a rejected request writes nothing");
});

test("COURSES_FILE as JSON, and its errors", async () => {
  const json = join(tmp, "courses.json");
  writeFileSync(json, JSON.stringify({ [COURSE]: "Demo (json)" }));
  assert.deepEqual(await loadCoursesFile(json), new Map([[COURSE, "Demo (json)"]]));
  writeFileSync(json, JSON.stringify({ [COURSE]: 5 }));
  await assert.rejects(loadCoursesFile(json), (e: unknown) => e instanceof ValidationError && e.message.includes(json));
  const csv = join(tmp, "bad.csv");
  writeFileSync(csv, "course_id,name\na,b\nc\n");
  await assert.rejects(loadCoursesFile(csv), (e: unknown) => e instanceof ValidationError && e.message.startsWith(`${csv}: line 3:`));
});

test("offline (CLI) course directory", async () => {
  const dir = staticCourseDirectory(new Map(parseCoursesCsv("course_id,name\na,Alpha\n", "courses.csv").map((c) => [c.courseId, c.name])));
  assert.equal(await dir.courseName("a"), "Alpha");
  assert.equal(await dir.courseName("b"), undefined);
  assert.equal(await staticCourseDirectory({ b: "Beta" }).courseName("b"), "Beta");
});
