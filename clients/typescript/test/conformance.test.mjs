// The shared conformance table (clients/conformance/cases.json) against a
// real studio serve, as the Go client runs it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { StudioClient } from "../dist/esm/index.js";
import { startStudio, freePort } from "./helpers/studio.mjs";
import { startProxy } from "./helpers/proxy.mjs";

const conf = JSON.parse(readFileSync(new URL("../../conformance/cases.json", import.meta.url), "utf8"));
const adminToken = "ts-test-admin-689b56e8c4e9e28c0761f8804683a1683dac9106494fd444";
const runId = `ts${Date.now() % 1000000}-`;
let studio;

before(async () => { studio = await startStudio({ adminToken }); });
after(async () => { await studio?.stop(); });

const user = (s) => (s.user ? runId + s.user : "");

for (const tc of conf.cases) {
  test(tc.name, async () => {
    const slow = await startProxy(studio.url);
    slow.state.delayMs = conf.slow_delay_ms;
    const lossy = await startProxy(studio.url);
    const bases = { studio: studio.url, down: `http://127.0.0.1:${await freePort()}`, slow: slow.url, lossy: lossy.url };
    const clients = new Map();
    const tokens = new Map();
    const clientFor = (s) => {
      const key = `${s.via ?? "studio"}/${s.admin ?? ""}`;
      if (!clients.has(key)) {
        const admin = { undefined: adminToken, wrong: "not-the-admin-token-at-all", none: undefined }[s.admin];
        clients.set(key, new StudioClient({
          baseUrl: bases[s.via ?? "studio"],
          adminToken: admin,
          timeoutMs: conf.client.timeout_ms,
          retry: { attempts: conf.client.retry.attempts, baseDelayMs: conf.client.retry.base_delay_ms, maxDelayMs: conf.client.retry.max_delay_ms },
        }));
      }
      return clients.get(key);
    };
    const tokenOf = (s) => ("literal" in s ? s.literal : tokens.get(s.token));
    try {
      for (const [i, s] of tc.steps.entries()) {
        if (s.op === "wait") {
          await new Promise((r) => setTimeout(r, s.ms));
          continue;
        }
        const c = clientFor(s);
        slow.state.requests = lossy.state.requests = 0;
        if (s.via === "lossy") lossy.state.drop = 1;
        let value, err;
        try {
          switch (s.op) {
            case "create": {
              const r = await c.create({ userId: user(s), ttlSeconds: s.ttl_s });
              if (s.as) tokens.set(s.as, r.token);
              value = r.session;
              break;
            }
            case "validate": value = await c.validate(tokenOf(s)); break;
            case "revoke": value = await c.revoke(tokenOf(s)); break;
            case "revoke_user": value = await c.revokeUser(user(s)); break;
            default: assert.fail(`unknown op ${s.op}`);
          }
        } catch (e) {
          err = e;
        }
        const where = `step ${i} ${s.op} via ${s.via ?? "studio"}`;
        const want = s.expect;
        if (!want.error) {
          assert.equal(err, undefined, `${where}: ${err}`);
          if (want.user_id) assert.equal(value.userId, runId + want.user_id, where);
          if (want.revoked !== undefined) assert.equal(value, want.revoked, where);
        } else {
          assert.ok(err, `${where}: succeeded, want ${want.error}`);
          assert.equal(err.kind, want.error, `${where}: ${err}`);
          if (want.reason) assert.equal(err.reason, want.reason, `${where}: ${err}`);
          assert.equal(err.timeout === true, want.timeout === true, `${where}: timeout (${err})`);
          assert.ok(!String(err).includes("stu_"), `${where}: a token in the error`);
        }
        if (s.requests !== undefined) {
          assert.equal({ slow, lossy }[s.via].state.requests, s.requests, `${where}: requests that reached the proxy`);
        }
      }
    } finally {
      await slow.close();
      await lossy.close();
    }
  });
}

// A wrong admin token over Studio's budget is answered 429
// too_many_attempts: still a wrong token (forbidden), sent once, never
// retried (a retry would only spend the budget again).
test("a wrong admin token over the budget is forbidden, not retried", async () => {
  const counted = await startProxy(studio.url);
  try {
    const c = new StudioClient({ baseUrl: counted.url, adminToken: "not-the-admin-token-at-all", retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 } });
    const calls = 12; // Studio's budget is 10 wrong tokens a minute per client
    let throttled = false;
    for (let i = 0; i < calls; i++) {
      await assert.rejects(c.revokeUser(`${runId}intruder`), (e) => {
        throttled ||= e.status === 429;
        return e.kind === "forbidden";
      }, `call ${i + 1}`);
    }
    assert.ok(throttled, "no call was answered 429: Studio's budget changed and this test no longer reaches it");
    assert.equal(counted.state.requests, calls, "a throttled wrong token was retried");
  } finally {
    await counted.close();
  }
});
