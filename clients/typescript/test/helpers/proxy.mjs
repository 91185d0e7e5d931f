// An HTTP proxy in front of the real Studio that can hold every answer
// (Studio slow) or drop answers after Studio has acted on the request (a
// lost response), counting the requests it forwards. It never answers in
// Studio's place.
import http from "node:http";

export async function startProxy(upstream) {
  const state = { delayMs: 0, drop: 0, requests: 0 };
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    state.requests++;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const up = http.request(upstream + req.url, { method: req.method, headers: req.headers, agent }, (ur) => {
        const body = [];
        ur.on("data", (c) => body.push(c));
        ur.on("end", () => {
          const send = () => {
            if (state.drop > 0) {
              state.drop--;
              req.socket.destroy(); // Studio acted; the client never hears of it
              return;
            }
            if (res.destroyed) return;
            res.writeHead(ur.statusCode, ur.headers);
            res.end(Buffer.concat(body));
          };
          if (state.delayMs > 0) {
            const t = setTimeout(send, state.delayMs);
            res.on("close", () => clearTimeout(t));
          } else {
            send();
          }
        });
      });
      up.on("error", () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    state,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); agent.destroy(); }),
  };
}
