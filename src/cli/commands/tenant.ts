/**
 * `cloaca tenant create|remove|list`: tenant provisioning on PostgreSQL through {@link DatabaseAdmin}.
 * The admin URL comes from `--db` or `DATABASE_URL` and needs a role that may create roles and schemas.
 */
import type { Command } from "commander";
import { maskUrl } from "../../database-url.js";
import { DatabaseAdmin } from "../../tenancy/admin.js";
import { databaseUrl, table, UsageError, type CliContext } from "../io.js";

interface CreateOptions {
  db?: string;
  schema: string;
  user: string;
  password?: string;
  passwordStdin?: boolean;
  showPassword?: boolean;
}

interface RemoveOptions {
  db?: string;
  schema: string;
  user: string;
}

interface ListOptions {
  db?: string;
  json?: boolean;
}

const DB_HELP = "admin database URL (default: the DATABASE_URL environment variable)";

async function withAdmin<T>(url: string, fn: (admin: DatabaseAdmin) => Promise<T>): Promise<T> {
  const admin = new DatabaseAdmin(url);
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

/** The password asked for: `--password`, `--password-stdin` (first line), or undefined (generate one). */
async function requestedPassword(options: CreateOptions, ctx: CliContext): Promise<string | undefined> {
  if (options.password !== undefined && options.passwordStdin) {
    throw new UsageError("give the password with --password or --password-stdin, not both");
  }
  if (options.passwordStdin) {
    const text = (await ctx.io.readStdin()).replace(/\r?\n$/, "");
    if (text === "" || /[\r\n]/.test(text)) throw new UsageError("--password-stdin: standard input must hold the password on one line");
    return text;
  }
  if (options.password === "") throw new UsageError("--password is empty (leave it out to generate a password)");
  return options.password;
}

async function create(options: CreateOptions, ctx: CliContext): Promise<void> {
  const url = databaseUrl(options.db, ctx.env);
  const password = await requestedPassword(options, ctx);
  const creds = await withAdmin(url, (admin) =>
    admin.createTenant({ schemaName: options.schema, username: options.user, ...(password === undefined ? {} : { password }) }),
  );
  const show = options.showPassword === true;
  const generated = password === undefined;
  const rows: Array<[string, string]> = [
    ["schema", creds.schemaName],
    ["username", creds.username],
    ["password", show ? creds.password : `*** (${generated ? "generated, " : ""}hidden)`],
    ["connection string", show ? creds.connectionString : maskUrl(creds.connectionString)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  ctx.io.out(`Created tenant ${creds.schemaName}\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n")}\n`);
  if (show) {
    ctx.io.err("cloaca: this is the only time the password is shown: cloaca stores it nowhere (PostgreSQL keeps a SCRAM verifier only).\n");
  } else if (generated) {
    ctx.io.err(
      "cloaca: hint: the generated password was not printed, and cloaca stores it nowhere. To use this tenant, set a " +
        `password (ALTER ROLE ${creds.username} PASSWORD '…'), or remove it and create it again with --show-password.\n`,
    );
  } else {
    ctx.io.err("cloaca: hint: the password is the one you gave; pass --show-password to print it in the connection string.\n");
  }
}

async function remove(options: RemoveOptions, ctx: CliContext): Promise<void> {
  const url = databaseUrl(options.db, ctx.env);
  await withAdmin(url, (admin) => admin.removeTenant(options.schema, options.user));
  ctx.io.out(`Removed tenant ${options.schema}: dropped schema ${options.schema} (with its tables) and role ${options.user}\n`);
}

async function list(options: ListOptions, ctx: CliContext): Promise<void> {
  const url = databaseUrl(options.db, ctx.env);
  const tenants = await withAdmin(url, (admin) => admin.listTenants());
  if (options.json) {
    ctx.io.out(`${JSON.stringify(tenants, null, 2)}\n`);
    return;
  }
  if (tenants.length === 0) {
    ctx.io.out(`No tenants: no schema holds cloaca tables on ${maskUrl(url)}\n`);
    return;
  }
  ctx.io.out(table(["SCHEMA", "OWNER"], tenants.map((t) => [t.schemaName, t.username])));
}

/** Adds `tenant create|remove|list` to the program. */
export function registerTenantCommands(program: Command, ctx: CliContext): void {
  const tenant = program
    .command("tenant")
    .description("create, remove and list tenants (PostgreSQL: one role + one schema each)");

  tenant
    .command("create")
    .description("create a tenant: a login role, a schema it owns, and the engine tables in it (one transaction)")
    .requiredOption("--schema <name>", "the tenant's schema (letters, digits, _; not public or pg_*)")
    .requiredOption("--user <name>", "the tenant's login role")
    .option("--password <password>", "the role's password (default: 32 random letters and digits); visible to other local users in the process list — prefer --password-stdin")
    .option("--password-stdin", "read the role's password from standard input")
    .option("--show-password", "print the password and the full connection string (shown once: it is stored nowhere)")
    .option("--db <url>", DB_HELP)
    .action((options: CreateOptions) => create(options, ctx));

  tenant
    .command("remove")
    .description("drop a tenant's schema (with all its data) and its role, in one transaction")
    .requiredOption("--schema <name>", "the tenant's schema")
    .requiredOption("--user <name>", "the tenant's role (must own the schema)")
    .option("--db <url>", DB_HELP)
    .action((options: RemoveOptions) => remove(options, ctx));

  tenant
    .command("list")
    .description("list the schemas that hold cloaca tables, with the role that owns each")
    .option("--json", "print JSON instead of a table")
    .option("--db <url>", DB_HELP)
    .action((options: ListOptions) => list(options, ctx));
}
