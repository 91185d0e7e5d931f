// Validations per second and p50/p99 through StudioClient against raw
// fetch calls (same keep-alive fetch, read the body, check the status,
// parse nothing), in the same run, against a real studio serve:
//
//   npm run build && npm run bench          (BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_ROUNDS)
import { StudioClient } from "./dist/esm/index.js";
import { startStudio } from "./test/helpers/studio.mjs";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const adminToken = "ts-bench-admin-32c1b08674727e85b56ffc833c1f663ac6d29b550a68c750";

async function run(op) {
  const lat = [];
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await op();
      lat.push(performance.now() - t0);
    }
  }));
  const took = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 1000;
  return { ops: lat.length / took, p50: q(0.5), p99: q(0.99) };
}

const studio = await startStudio({ adminToken });
try {
  const client = new StudioClient({ baseUrl: studio.url, adminToken });
  const { token } = await client.create({ userId: "bench" });
  const raw = async () => {
    const res = await fetch(studio.url + "/v1/session", { headers: { authorization: `Bearer ${token}` } });
    await res.text();
    if (res.status !== 200) throw new Error(`status ${res.status}`);
  };
  const viaClient = () => client.validate(token);
  await run(raw); // warm up connections and the JIT
  await run(viaClient);
  const res = { raw: [], client: [] };
  for (let i = 0; i < rounds; i++) {
    res.raw.push(await run(raw));
    res.client.push(await run(viaClient));
  }
  const median = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`node ${process.version}, ${concurrency} concurrent callers, ${rounds} rounds of ${seconds} s each (medians)`);
  console.log("| | validations/s | p50 µs | p99 µs |\n|---|---|---|---|");
  for (const k of ["raw", "client"]) {
    console.log(`| ${k === "raw" ? "raw fetch" : "StudioClient"} | ${median(res[k], "ops").toFixed(0)} | ${median(res[k], "p50").toFixed(0)} | ${median(res[k], "p99").toFixed(0)} |`);
  }
  const cost = (median(res.raw, "ops") / median(res.client, "ops") - 1) * 100;
  console.log(`client cost over raw calls: ${cost >= 0 ? "+" : ""}${cost.toFixed(1)} % (per validation)`);
} finally {
  await studio.stop();
}
