// The Express middleware (with a real Express) and the Next.js route
// helper, against a real studio serve.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import express from "express";
import { StudioClient, studioSession, withStudioSession } from "../dist/esm/index.js";
import { startStudio, freePort } from "./helpers/studio.mjs";

const adminToken = "ts-test-admin-689b56e8c4e9e28c0761f8804683a1683dac9106494fd444";
let studio, live, revoked, app, appURL, downURL;

before(async () => {
  studio = await startStudio({ adminToken });
  const admin = new StudioClient({ baseUrl: studio.url, adminToken });
  live = (await admin.create({ userId: "mw-user" })).token;
  revoked = (await admin.create({ userId: "mw-user" })).token;
  await admin.revoke(revoked);
  downURL = `http://127.0.0.1:${await freePort()}`;
  const ex = express();
  ex.get("/me", studioSession({ baseUrl: studio.url, cookie: "sid" }), (req, res) => res.json({ user: req.studioSession.userId }));
  ex.get("/down/me", studioSession({ baseUrl: downURL, retry: { attempts: 1 } }), (req, res) => res.json({ user: "never" }));
  await new Promise((r) => { app = ex.listen(0, "127.0.0.1", r); });
  appURL = `http://127.0.0.1:${app.address().port}`;
});
after(async () => {
  app?.closeAllConnections();
  await new Promise((r) => (app ? app.close(r) : r()));
  await studio?.stop();
});

const cases = [
  { name: "bearer", path: "/me", auth: () => `Bearer ${live}`, status: 200 },
  { name: "cookie", path: "/me", cookie: () => `other=1; sid=${live}`, status: 200 },
  { name: "no token", path: "/me", status: 401, code: "missing_token" },
  { name: "revoked", path: "/me", auth: () => `Bearer ${revoked}`, status: 401, code: "invalid_session", reason: "revoked" },
  { name: "malformed", path: "/me", auth: () => "Bearer garbage", status: 401, code: "invalid_token", reason: "malformed" },
  { name: "studio down", path: "/down/me", auth: () => `Bearer ${live}`, status: 503, code: "unavailable" },
];

async function check(res, c) {
  const body = await res.json();
  assert.equal(res.status, c.status, JSON.stringify(body));
  assert.ok(!JSON.stringify(body).includes("stu_"), "a token in the answer");
  if (c.status === 200) {
    assert.equal(body.user, "mw-user");
    return;
  }
  assert.equal(body.error.code, c.code);
  assert.equal(body.error.reason, c.reason);
  assert.ok(body.error.message);
}

for (const c of cases) {
  test(`express: ${c.name}`, async () => {
    const headers = {};
    if (c.auth) headers.authorization = c.auth();
    if (c.cookie) headers.cookie = c.cookie();
    await check(await fetch(appURL + c.path, { headers }), c);
  });

  test(`next route helper: ${c.name}`, async () => {
    const baseUrl = c.path.startsWith("/down") ? downURL : studio.url;
    const handler = withStudioSession(async (req, { session, params }) => {
      assert.equal(params.id, "7");
      return Response.json({ user: session.userId });
    }, { baseUrl, cookie: "sid", retry: { attempts: 1 } });
    const headers = new Headers();
    if (c.auth) headers.set("authorization", c.auth());
    if (c.cookie) headers.set("cookie", c.cookie());
    await check(await handler(new Request("http://app.test/me", { headers }), { params: { id: "7" } }), c);
  });
}
