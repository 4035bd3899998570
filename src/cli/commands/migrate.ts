/**
 * `cloaca migrate`: connects and creates or upgrades the engine tables (in `--schema`, or the URL's
 * `options=-c search_path=…`, or `public`), then exits. Runners migrate on start too; this is for deploy
 * pipelines that want the schema ready (and the credentials proven) before any runner starts.
 */
import type { Command } from "commander";
import { parseDatabaseUrl, validateSchemaName } from "../../database-url.js";
import { ConfigurationError } from "../../errors.js";
import { postgresMigrations, sqliteMigrations } from "../../store/migrations.js";
import { openStore } from "../../store/open-store.js";
import { noopLogger } from "../../config.js";
import { databaseUrl, type CliContext } from "../io.js";

interface MigrateOptions {
  db?: string;
  schema?: string;
}

async function migrate(options: MigrateOptions, ctx: CliContext): Promise<void> {
  const target = parseDatabaseUrl(databaseUrl(options.db, ctx.env));
  if (options.schema !== undefined) {
    if (target.kind !== "postgres") {
      throw new ConfigurationError("--schema: multi-tenancy requires PostgreSQL (with SQLite, use one database file per tenant)");
    }
    validateSchemaName(options.schema);
  }
  const opened = await openStore(target, { schema: options.schema, poolSize: 1, logger: noopLogger });
  let applied: number[];
  try {
    applied = await opened.store.migrate();
  } finally {
    await opened.close();
  }
  const migrations = target.kind === "postgres" ? postgresMigrations : sqliteMigrations;
  const latest = migrations[migrations.length - 1]!;
  const where = `${target.display}${opened.schema !== undefined ? ` (schema ${opened.schema})` : ""}`;
  if (applied.length === 0) {
    ctx.io.out(`${where} is up to date (migration ${latest.version}: ${latest.name})\n`);
  } else {
    const names = applied.map((v) => `${v} (${migrations.find((m) => m.version === v)?.name ?? "?"})`);
    ctx.io.out(`Migrated ${where}: applied ${names.join(", ")}\n`);
  }
}

/** Adds `migrate` to the program. */
export function registerMigrateCommand(program: Command, ctx: CliContext): void {
  program
    .command("migrate")
    .description("create or upgrade the engine tables, then exit")
    .option("--schema <name>", "PostgreSQL schema of the engine tables (default: the URL's search_path, else public)")
    .option("--db <url>", "database URL (default: the DATABASE_URL environment variable)")
    .action((options: MigrateOptions) => migrate(options, ctx));
}
