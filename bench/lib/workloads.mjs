// The build workloads of bench/build.mjs, shared with bench/platform.mjs: each writes its
// context into `dir` (a Dockerfile with `ARG BASE=busybox`) and returns the file a
// one-file-change rebuild changes.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function write(dir, rel, content) {
  const p = join(dir, rel);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, content);
}

export const workloads = {
  small(dir) {
    for (let i = 0; i < 200; i++) write(dir, `files/f${i}.txt`, `file ${i}\n`.repeat(100));
    write(dir, "Dockerfile", "ARG BASE=busybox\nFROM $BASE\nENV APP=small\nWORKDIR /app\nCOPY files/ ./files/\nRUN echo built > built.txt\nEXPOSE 8080\nCMD [\"cat\", \"built.txt\"]\n");
    return "files/f0.txt";
  },
  "many-files"(dir) {
    const buf = Buffer.alloc(10 * 1024, 7);
    for (let i = 0; i < 20000; i++) {
      buf.writeUInt32LE(i, 0);
      const d = join(dir, "data", `d${Math.floor(i / 1000)}`);
      if (i % 1000 === 0) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}.dat`), buf);
    }
    write(dir, "Dockerfile", "ARG BASE=busybox\nFROM $BASE\nCOPY data /data\nRUN ls /data | wc -l > /count\n");
    return "data/d0/f0.dat";
  },
  "big-run"(dir) {
    write(dir, "marker.txt", "m\n");
    write(dir, "Dockerfile", "ARG BASE=busybox\nFROM $BASE\nRUN dd if=/dev/zero of=/big1 bs=1M count=150 2>/dev/null && dd if=/dev/zero of=/big2 bs=1M count=150 2>/dev/null\nRUN rm /big1\nCOPY marker.txt /marker.txt\n");
    return "marker.txt";
  },
  "multi-stage"(dir) {
    write(dir, "app.txt", "app\n");
    write(dir, "lib.txt", "lib\n");
    write(dir, "Dockerfile", [
      "ARG BASE=busybox",
      "FROM $BASE AS gen",
      "RUN mkdir /out && for i in $(seq 1 500); do echo $i > /out/f$i; done",
      "FROM $BASE AS lib",
      "COPY lib.txt /lib/",
      "RUN cat /lib/lib.txt > /lib/built",
      "FROM $BASE",
      "COPY --from=gen /out /gen",
      "COPY --from=lib /lib /lib",
      "COPY app.txt /app/",
      "RUN cat /app/app.txt > /app/built",
      "",
    ].join("\n"));
    return "app.txt";
  },
  "layers-20"(dir) {
    write(dir, "src.txt", "src\n");
    const lines = ["ARG BASE=busybox", "FROM $BASE"];
    for (let i = 1; i <= 20; i++) {
      if (i === 11) lines.push("COPY src.txt /src.txt");
      lines.push(`RUN echo ${i} > /f${i}`);
    }
    write(dir, "Dockerfile", lines.join("\n") + "\n");
    return "src.txt";
  },
};

