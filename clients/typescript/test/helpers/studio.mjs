// Starts a real redis-server and `studio serve` for the tests and the
// benchmark, on free loopback ports, and stops both. The studio binary is
// $STUDIO_BIN (scripts/test.sh builds it) or built here with `go build`.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

/** A free loopback port (nothing listens on it once this returns). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function redisPing(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    c.setTimeout(500);
    c.on("connect", () => c.write("PING\r\n"));
    c.on("data", (d) => { c.destroy(); resolve(d.toString().startsWith("+PONG")); });
    c.on("error", () => resolve(false));
    c.on("timeout", () => { c.destroy(); resolve(false); });
  });
}

async function until(what, ms, f) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await f()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const children = new Set();
process.on("exit", () => { for (const c of children) c.kill("SIGKILL"); });

function track(child) {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

function stopChild(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => { clearTimeout(t); resolve(); });
    child.kill(signal);
  });
}

/**
 * startStudio runs redis-server and `studio serve`, and resolves once
 * /readyz answers 200: { url, redisPort, stop() }.
 */
export async function startStudio({ adminToken }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "studio-ts-"));
  let bin = process.env.STUDIO_BIN;
  if (!bin) {
    bin = path.join(dir, "studio");
    execFileSync("go", ["build", "-o", bin, "./cmd/studio"], { cwd: repoRoot, stdio: "inherit" });
  }
  const redisPort = await freePort();
  const redis = track(spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" }));
  let log = "";
  const stop = async () => {
    await stopChild(studio, "SIGTERM");
    await stopChild(redis, "SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  await until("redis-server answers PING", 10000, () => redisPing(redisPort));
  const studio = track(spawn(bin, ["serve"], {
    env: {
      PATH: process.env.PATH, // nothing else of ours: settings must not leak into the Studio under test
      STUDIO_ADDR: "127.0.0.1:0",
      REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
      DATABASE_URL: `sqlite:${path.join(dir, "studio.db")}`,
      STUDIO_ADMIN_TOKEN: adminToken,
      STUDIO_WARM_ON_START: "false",
      OTEL_TRACES_EXPORTER: "none",
    },
    stdio: ["ignore", "pipe", "pipe"],
  }));
  let url = "";
  const onData = (d) => {
    if (url) return; // keep draining, stop looking
    log += d.toString();
    const m = /"msg":"listening","addr":"([^"]+)"/.exec(log);
    if (m) url = `http://${m[1]}`;
  };
  studio.stdout.on("data", onData);
  studio.stderr.on("data", (d) => { if (!url) log += d.toString(); });
  try {
    await until("studio serve listens", 30000, () => {
      if (studio.exitCode !== null) throw new Error(`studio serve exited ${studio.exitCode}:\n${log}`);
      return url !== "";
    });
    await until("studio serve is ready", 30000, async () => {
      try {
        return (await fetch(url + "/readyz")).status === 200;
      } catch {
        return false;
      }
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, redisPort, stop };
}
