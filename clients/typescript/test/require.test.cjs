// The CommonJS build from a CommonJS file, as a CJS application uses it.
const { test } = require("node:test");
const assert = require("node:assert/strict");
const studio = require("@studiohq/studio-client");

test("require from a .cjs file", async () => {
  const c = new studio.StudioClient({ baseUrl: "http://127.0.0.1:1", retry: { attempts: 1 }, timeoutMs: 500 });
  await assert.rejects(c.validate("stu_x"), (e) => e instanceof studio.StudioUnavailableError && e.kind === "unavailable" && !e.timeout);
});
