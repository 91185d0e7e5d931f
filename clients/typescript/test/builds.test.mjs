// Both builds load and work: the ESM through import, the CJS through
// require, both through the package's own "exports".
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

for (const [kind, load] of [
  ["esm", () => import("@studiohq/studio-client")],
  ["cjs", async () => require("@studiohq/studio-client")],
]) {
  test(`${kind} build`, async () => {
    const m = await load();
    assert.equal(typeof m.StudioClient, "function");
    assert.equal(m.default, m.StudioClient);
    for (const name of ["StudioError", "StudioUnauthenticatedError", "StudioForbiddenError", "StudioBadRequestError", "StudioUnavailableError", "StudioTimeoutError", "studioSession", "withStudioSession"]) {
      assert.equal(typeof m[name], "function", name);
    }
    const c = new m.default({ baseUrl: "http://127.0.0.1:1" });
    await assert.rejects(c.validate(""), (e) => e instanceof m.StudioUnauthenticatedError && e.reason === "malformed" && e.attempts === 0);
  });
}

test("package.json points exports at the built files", () => {
  const e = pkg.exports["."];
  assert.deepEqual([e.import, e.require, e.types], ["./dist/esm/index.js", "./dist/cjs/index.js", "./dist/types/index.d.ts"]);
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), []);
  assert.equal(JSON.parse(readFileSync(new URL("../dist/cjs/package.json", import.meta.url), "utf8")).type, "commonjs");
});
