/**
 * Package name and version, for the default transformer-version extension. Imported as JSON (not read from
 * disk at run time) so the bundle in dist/ carries them and runs wherever it is copied, at any depth.
 */
import pkg from "../package.json" with { type: "json" };

export const PACKAGE_NAME: string = pkg.name;
export const PACKAGE_VERSION: string = pkg.version;
