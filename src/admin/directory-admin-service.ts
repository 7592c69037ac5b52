/**
 * DirectoryAdminService: imports identities and course names, as rows or as CSV text. The whole request is
 * validated before anything is written, so a bad row 9,000 does not leave a half-imported table.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { DirectoryAdminService } from "../../gen/eventrouting/v1/directory_admin_service_pb.js";
import { ValidationError } from "../errors.js";
import type { CourseRecord } from "../directory/course-record.js";
import { validateCourse } from "../directory/course-record.js";
import { parseCoursesCsv, parseIdentitiesCsv } from "../directory/csv.js";
import type { IdentityRecord } from "../directory/directory.js";
import { validateIdentity } from "../directory/identity-record.js";

export interface IdentityImporter {
  import(records: readonly IdentityRecord[]): Promise<number>;
}

export interface CourseImporter {
  import(courses: readonly CourseRecord[]): Promise<number>;
}

export interface DirectoryAdminServiceDeps {
  readonly identities: IdentityImporter;
  readonly courses: CourseImporter;
  /** Rows per request (rows + CSV lines); larger imports are split by the client. Default 100 000. */
  readonly maxRows?: number;
}

export function createDirectoryAdminService(deps: DirectoryAdminServiceDeps): ServiceImpl<typeof DirectoryAdminService> {
  const maxRows = deps.maxRows ?? 100_000;
  const limit = (n: number, field: string) => {
    if (n > maxRows) throw new ValidationError(field, `at most ${maxRows} rows per request; split the import`);
  };
  return {
    async importIdentities(req) {
      const records = [
        ...req.identities.map((r, i) =>
          validateIdentity({ userId: r.userId, username: r.username, externalId: r.externalId, email: r.email }, `identities[${i}]`),
        ),
        ...(req.csv !== "" ? parseIdentitiesCsv(req.csv, "csv") : []),
      ];
      if (records.length === 0) throw new ValidationError("identities", "no identities given (rows or csv)");
      limit(records.length, req.csv !== "" ? "csv" : "identities");
      return { imported: await deps.identities.import(records) };
    },

    async importCourses(req) {
      const courses = [
        ...req.courses.map((c, i) => validateCourse({ courseId: c.courseId, name: c.name }, `courses[${i}]`)),
        ...(req.csv !== "" ? parseCoursesCsv(req.csv, "csv") : []),
      ];
      if (courses.length === 0) throw new ValidationError("courses", "no courses given (rows or csv)");
      limit(courses.length, req.csv !== "" ? "csv" : "courses");
      return { imported: await deps.courses.import(courses) };
    },
  };
}
