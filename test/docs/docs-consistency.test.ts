/**
 * Keeps README.md and docs/ honest about the code:
 * - every name imported from "cloaca" in a code block is exported by src/index.ts (blocks preceded by
 *   `<!-- coming -->` show APIs that are not built yet and are exempt);
 * - APIs the README lists as "coming" are really not built yet (when one lands, update the docs);
 * - every `cloaca` command and option is documented in docs/cli.md;
 * - every option, CLOACA_* variable, runner event and error class in the code is documented;
 * - every relative link (and #anchor) in the docs points at something that exists.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as cloaca from "../../src/index.js";
import { DefaultRunner } from "../../src/index.js";
import { buildProgram } from "../../src/cli/main.js";
import type { Command } from "commander";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const read = (rel: string) => readFileSync(join(ROOT, rel), "utf8");
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

/** Names exported by src/index.ts, values and types. */
function indexExports(): Set<string> {
  const names = new Set<string>();
  for (const m of read("src/index.ts").matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1]!.split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim();
      if (name) names.add(name);
    }
  }
  return names;
}

/** The fenced code blocks of a markdown file, with whether they are marked as coming. */
function codeBlocks(text: string): Array<{ code: string; coming: boolean }> {
  const blocks: Array<{ code: string; coming: boolean }> = [];
  const re = /(<!-- coming -->\s*\n)?```(\w*)\n([\s\S]*?)```/g;
  for (const m of text.matchAll(re)) blocks.push({ code: m[3]!, coming: m[1] !== undefined });
  return blocks;
}

const noCli = { env: {}, io: { out: () => undefined, err: () => undefined, readStdin: async () => "" }, setExitCode: () => undefined };

/** The top-level commands of the `cloaca` CLI. */
function cliCommands(): readonly Command[] {
  return buildProgram(noCli).commands;
}

/** GitHub's heading anchors (lower case, punctuation dropped, spaces to dashes). */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = text.replace(/```[\s\S]*?```/g, "");
  for (const m of withoutCode.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe("docs match the code", () => {
  it("every name imported from 'cloaca' in the docs is exported (outside blocks marked coming)", () => {
    const exported = indexExports();
    const missing: string[] = [];
    for (const file of DOCS) {
      for (const block of codeBlocks(read(file))) {
        if (block.coming) continue;
        for (const m of block.code.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+"cloaca"/g)) {
          for (const part of m[1]!.split(",")) {
            const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]!.trim();
            if (name && !exported.has(name)) missing.push(`${file}: ${name}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("every block marked coming in the docs says COMING (and so shows APIs that are not built yet)", () => {
    for (const file of DOCS) {
      for (const b of codeBlocks(read(file)).filter((x) => x.coming)) expect(b.code, file).toMatch(/COMING/);
    }
  });

  it("APIs the roadmap lists as coming are not built yet (when one lands, move it out of the roadmap)", () => {
    const api = cloaca as Record<string, unknown>;
    for (const name of ["TriggerResult", "trigger"]) {
      expect(api[name], `${name} is exported now: update README.md's roadmap and the docs`).toBeUndefined();
    }
    const runner = DefaultRunner.prototype as unknown as Record<string, unknown>;
    for (const method of ["registerCronWorkflow", "listCronSchedules", "listTriggerSchedules"]) {
      expect(runner[method], `DefaultRunner.${method} exists now: update README.md's roadmap and the docs`).toBeUndefined();
    }
    const built = cliCommands().map((c) => c.name());
    for (const command of ["run", "executions", "cron", "copy", "dashboard"]) {
      expect(built, `\`cloaca ${command}\` exists now: update README.md's roadmap and docs/cli.md`).not.toContain(command);
    }
  });

  it("what the roadmap no longer lists is built: tenant provisioning and the cloaca bin", () => {
    const api = cloaca as Record<string, unknown>;
    for (const name of ["DatabaseAdmin", "TenantConfig", "TenantCredentials"]) expect(typeof api[name], name).toBe("function");
    const pkg = JSON.parse(read("package.json")) as { bin?: Record<string, string> };
    expect(pkg.bin?.cloaca).toBe("bin/cloaca.mjs");
    expect(existsSync(join(ROOT, "bin", "cloaca.mjs"))).toBe(true);
    expect(cliCommands().map((c) => c.name())).toEqual(expect.arrayContaining(["tenant", "migrate", "worker"]));
  });

  it("every cloaca command and option is documented in docs/cli.md", () => {
    const doc = read("docs/cli.md");
    const missing: string[] = [];
    const walk = (cmd: Command, path: string[]) => {
      for (const sub of cmd.commands) {
        const name = [...path, sub.name()];
        if (!doc.includes(`cloaca ${name.join(" ")}`)) missing.push(`command: cloaca ${name.join(" ")}`);
        for (const opt of sub.options) if (!doc.includes(`\`${opt.long}`)) missing.push(`option: cloaca ${name.join(" ")} ${opt.long}`);
        walk(sub, name);
      }
    };
    walk(buildProgram(noCli), []);
    expect(missing).toEqual([]);
  });

  it("every DefaultRunnerConfig field is documented in docs/configuration.md", () => {
    const config = read("src/config.ts");
    const iface = /export interface DefaultRunnerConfig \{([\s\S]*?)\n\}/.exec(config)![1]!;
    const fields = [...iface.matchAll(/^\s+(\w+)\?:/gm)].map((m) => m[1]!);
    expect(fields.length).toBeGreaterThan(10);
    const doc = read("docs/configuration.md");
    expect(fields.filter((f) => !doc.includes(`| \`${f}\``))).toEqual([]);
  });

  it("every CLOACA_* variable read by fromEnv is documented in docs/runner.md", () => {
    const vars = [...new Set([...read("src/config.ts").matchAll(/"(CLOACA_[A-Z_]+)"/g)].map((m) => m[1]!))];
    expect(vars.length).toBeGreaterThan(10);
    const doc = read("docs/runner.md");
    expect(vars.filter((v) => !doc.includes(v))).toEqual([]);
  });

  it("every runner event is documented in docs/runner.md", () => {
    const events = read("src/engine/events.ts");
    const iface = /export interface RunnerEvents \{([\s\S]*?)\n\}/.exec(events)![1]!;
    const names = [...iface.matchAll(/^\s+(\w+):/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(5);
    const doc = read("docs/runner.md");
    expect(names.filter((n) => !doc.includes(`| \`${n}\``))).toEqual([]);
  });

  it("every error class and code is documented in docs/errors.md", () => {
    const doc = read("docs/errors.md");
    const classes = Object.entries(cloaca).filter(
      ([, v]) => typeof v === "function" && (v === cloaca.CloacaError || v.prototype instanceof cloaca.CloacaError),
    );
    expect(classes.length).toBeGreaterThan(10);
    expect(classes.map(([n]) => n).filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
    const codes = [...read("src/errors.ts").matchAll(/\|\s+"([A-Z_]+)"/g)].map((m) => m[1]!);
    expect(codes.filter((c) => !doc.includes(`\`${c}\``))).toEqual([]);
  });

  it("every relative link and anchor in README.md and docs/ resolves", () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      const text = read(file).replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // http(s), mailto
        const [path, anchor] = target.split("#") as [string, string | undefined];
        const abs = path === "" ? join(ROOT, file) : resolve(join(ROOT, dirname(file)), path);
        if (!existsSync(abs)) {
          broken.push(`${file}: ${target}`);
          continue;
        }
        if (anchor !== undefined && abs.endsWith(".md") && !anchors(readFileSync(abs, "utf8")).has(anchor)) {
          broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("README has the TypeScript version of every section of the reference page's examples", () => {
    const readme = read("README.md");
    for (const heading of [
      "### Installation",
      "### SQLite: basic usage",
      "### SQLite: configuration options",
      "### PostgreSQL: basic usage",
      "### PostgreSQL: multi-tenant setup",
      "### PostgreSQL: advanced configuration",
      "### Decision matrix",
      "### Migration from SQLite to PostgreSQL",
      "### Performance considerations",
      "### Environment-based configuration",
      "### Troubleshooting",
    ]) {
      expect(readme, heading).toContain(heading);
    }
    for (const phrase of ["database is locked", "connection refused", "authentication failed", "database does not exist"]) {
      expect(readme).toContain(`includes("${phrase}")`);
    }
  });
});
