import { unlinkSync } from "node:fs";
import { createConnection, createServer } from "node:net";

/**
 * The inner half of a published port, run by nsenter inside the container's network
 * namespace: for each `socket=port` argument, listen on the unix socket and connect each
 * client to 127.0.0.1:port in the container. Exits when its stdin (a pipe from the
 * supervisor) closes, so it never outlives the container's holder.
 */
const pairs = process.argv.slice(2).map((arg) => {
  const eq = arg.lastIndexOf("=");
  return { socket: arg.slice(0, eq), port: Number(arg.slice(eq + 1)) };
});

let listening = 0;
for (const { socket, port } of pairs) {
  try {
    unlinkSync(socket);
  } catch {
    // not there: fine
  }
  const server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port });
    client.pipe(upstream).on("error", () => upstream.destroy());
    upstream.pipe(client).on("error", () => client.destroy());
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  server.listen(socket, () => {
    if (++listening === pairs.length) process.stdout.write("ready\n");
  });
}

function cleanup(): never {
  for (const { socket } of pairs) {
    try {
      unlinkSync(socket);
    } catch {
      // gone already
    }
  }
  process.exit(0);
}

process.stdin.on("end", cleanup);
process.stdin.on("close", cleanup);
process.stdin.resume();
process.on("SIGTERM", cleanup);
