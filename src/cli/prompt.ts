/**
 * Docker's confirmation prompt (cli/command/utils.go PromptForConfirmation): the question and
 * " [y/N] " on stdout, one line read from stdin (a pipe too, not only a terminal), "y" or "yes"
 * in any case confirms; anything else, or the end of input, declines.
 */
export async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  return /^y(es)?$/i.test((await readLine()).trim());
}

/** One line of stdin; "" at end of input. */
function readLine(): Promise<string> {
  return new Promise((resolve) => {
    let buf = "";
    const done = (s: string) => {
      process.stdin.off("data", onData);
      process.stdin.off("end", onEnd);
      process.stdin.pause();
      resolve(s);
    };
    const onData = (b: Buffer) => {
      buf += b.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl >= 0) done(buf.slice(0, nl));
    };
    const onEnd = () => done(buf);
    process.stdin.on("data", onData);
    process.stdin.once("end", onEnd);
  });
}
