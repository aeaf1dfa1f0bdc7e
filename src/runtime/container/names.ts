import { randomInt } from "node:crypto";

// Docker's generator style (adjective_surname), from a shorter list: names only need to be memorable and distinct.
const LEFT = ["admiring", "bold", "brave", "calm", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen", "loving", "nifty", "quirky", "serene", "sharp", "stoic", "tender", "vibrant", "zealous"];
const RIGHT = ["babbage", "curie", "darwin", "euler", "faraday", "gauss", "hopper", "hypatia", "kepler", "lamport", "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak", "yalow", "zuse"];

export function randomName(taken: ReadonlySet<string>): string {
  for (let i = 0; ; i++) {
    const name = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}${i >= 10 ? String(randomInt(100)) : ""}`;
    if (!taken.has(name)) return name;
  }
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function isValidName(name: string): boolean {
  return NAME.test(name);
}
