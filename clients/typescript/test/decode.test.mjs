// Every bad answer Studio (or something in its place) could give, and the
// error each gets: never a session. The same table as the Go client's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StudioClient } from "../dist/esm/index.js";

const good = '{"session":{"id":"s1","user_id":"u1","created_at":"2030-01-01T00:00:00Z","last_seen_at":"2030-01-01T00:00:00Z","expires_at":"2030-01-02T00:00:00Z"}}';

const cases = [
  ["empty 200", 200, "", "unavailable"],
  ["truncated JSON", 200, good.slice(0, 40), "unavailable"],
  ["not JSON", 200, "<html>ok</html>", "unavailable"],
  ["a JSON array", 200, "[]", "unavailable"],
  ["null", 200, "null", "unavailable"],
  ["200 with no session", 200, "{}", "unavailable"],
  ["session without user", 200, '{"session":{"id":"s1","expires_at":"2030-01-02T00:00:00Z"}}', "unavailable"],
  ["wrong type: user_id a number", 200, '{"session":{"id":"s1","user_id":7,"expires_at":"2030-01-02T00:00:00Z"}}', "unavailable"],
  ["wrong type: expires_at not a time", 200, '{"session":{"id":"s1","user_id":"u","expires_at":"soon"}}', "unavailable"],
  ["negative idle_timeout", 200, '{"session":{"id":"s1","user_id":"u","expires_at":"2030-01-02T00:00:00Z","idle_timeout":-1}}', "unavailable"],
  ["401 with a reason", 401, '{"error":{"code":"invalid_session","message":"m","reason":"revoked"}}', "unauthenticated", "revoked"],
  ["401 invalid_token without a reason", 401, '{"error":{"code":"invalid_token","message":"m"}}', "unauthenticated", "malformed"],
  ["401 with an unknown code", 401, '{"error":{"code":"brand_new","message":"m"}}', "unauthenticated"],
  ["401 that is not Studio's", 401, "Unauthorized", "unavailable"],
  ["403", 403, '{"error":{"code":"admin_disabled","message":"m"}}', "forbidden"],
  ["404 of a wrong base URL", 404, '{"error":{"code":"not_found","message":"no such route"}}', "bad_request"],
  ["503 from Studio", 503, '{"error":{"code":"unavailable","message":"m"}}', "unavailable"],
  ["502 from a proxy", 502, "<html>bad gateway</html>", "unavailable"],
  ["a redirect", 302, "", "unavailable"],
];

// answering is a client whose fetch returns this answer (the parsing is
// under test here, not the network; the conformance test has the server).
const answering = (status, body) => new StudioClient({
  baseUrl: "http://studio.test",
  retry: { attempts: 1 },
  fetch: async () => new Response(body, { status, headers: status === 302 ? { location: "/x" } : {} }),
});

for (const [name, status, body, kind, reason] of cases) {
  test(name, async () => {
    await assert.rejects(answering(status, body).validate("stu_token"), (e) => e.kind === kind && e.reason === reason && !e.message.includes("stu_token"));
  });
}

test("a good answer", async () => {
  const s = await answering(200, good).validate("stu_token");
  assert.equal(s.userId, "u1");
  assert.equal(s.expiresAt.toISOString(), "2030-01-02T00:00:00.000Z");
  assert.equal(s.idleTimeoutSeconds, 0);
});
