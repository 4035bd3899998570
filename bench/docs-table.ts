/**
 * Writes a run's printed text into `docs/benchmarks.md`, between the markers
 * `<!-- npm run bench: begin -->` and `<!-- npm run bench: end -->` (the rest of the file is prose kept by
 * hand). Only a full run does this by default: a run narrowed by flags would replace the table with part of
 * one.
 */
import { readFileSync, writeFileSync } from "node:fs";

export const BEGIN = "<!-- npm run bench: begin -->";
export const END = "<!-- npm run bench: end -->";

/** Flags that do not change what a run measures; any other flag makes it a partial run. */
const NEUTRAL_FLAGS = new Set(["out", "pg-url", "redis-url", "timeout", "docs", "no-docs"]);

/** Whether `given` (the flags on the command line) leave the run's selection and sizes at their defaults. */
export function isFullRun(given: readonly string[]): boolean {
  return given.every((f) => NEUTRAL_FLAGS.has(f));
}

/** Replaces the text between the markers of `file` with `text`; throws if the markers are missing. */
export function writeDocsTable(file: string, text: string): void {
  const doc = readFileSync(file, "utf8");
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${file} has no "${BEGIN}" … "${END}" section to write the table into`);
  writeFileSync(file, `${doc.slice(0, begin + BEGIN.length)}\n\n${text.trimEnd()}\n\n${doc.slice(end)}`);
}
