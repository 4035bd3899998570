/**
 * `npm run bench` writes its printed table into docs/benchmarks.md between two markers, and only after a
 * full run by default (bench/docs-table.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BEGIN, END, isFullRun, writeDocsTable } from "../../bench/docs-table.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function docFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cloaca-docs-table-"));
  dirs.push(dir);
  const file = join(dir, "benchmarks.md");
  writeFileSync(file, text);
  return file;
}

describe("bench docs table", () => {
  it("replaces only the text between the markers, and again on the next run", () => {
    const file = docFile(`# Benchmarks\nprose before\n${BEGIN}\nold table\n${END}\nprose after\n`);
    writeDocsTable(file, "| a | b |\n|---|---|\n| 1 | 2 |\n");
    writeDocsTable(file, "| a | b |\n|---|---|\n| 3 | 4 |\n");
    expect(readFileSync(file, "utf8")).toBe(`# Benchmarks\nprose before\n${BEGIN}\n\n| a | b |\n|---|---|\n| 3 | 4 |\n\n${END}\nprose after\n`);
  });

  it("refuses a file without the markers, leaving it unchanged", () => {
    const file = docFile("# Benchmarks\nno markers\n");
    expect(() => writeDocsTable(file, "table")).toThrow(/no "<!-- npm run bench: begin -->"/);
    expect(readFileSync(file, "utf8")).toBe("# Benchmarks\nno markers\n");
  });

  it("counts a run as full only when no flag narrows what it measures", () => {
    expect(isFullRun([])).toBe(true);
    expect(isFullRun(["out", "pg-url", "redis-url", "timeout"])).toBe(true);
    expect(isFullRun(["quick"])).toBe(false);
    expect(isFullRun(["out", "workload"])).toBe(false);
    expect(isFullRun(["no-peers"])).toBe(false);
  });

  it("the project's docs/benchmarks.md has the markers, in order", () => {
    const doc = readFileSync(new URL("../../docs/benchmarks.md", import.meta.url), "utf8");
    expect(doc.indexOf(BEGIN)).toBeGreaterThan(0);
    expect(doc.indexOf(END)).toBeGreaterThan(doc.indexOf(BEGIN));
  });
});
