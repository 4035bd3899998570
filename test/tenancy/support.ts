/**
 * Helpers for the multi-tenancy tests: fresh tenant names, a superuser client for checking the catalog,
 * and cleanup of every role and schema a test made (registered before it is made, dropped in afterEach).
 */
import { randomBytes, createHash, createHmac, pbkdf2Sync } from "node:crypto";
import pg from "pg";
import { afterEach } from "vitest";
import { pgQuery, pgUrl } from "../support/backends.js";

/** `pgUrl` with `application_name=<name>` (or another parameter) added. */
export function withParam(url: string, key: string, value: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}${key}=${encodeURIComponent(value)}`;
}

/** The admin URL of these tests: the test server, tagged with an application_name of this file's process. */
export function adminUrl(tag: string): string {
  return withParam(pgUrl!, "application_name", `${tag}_${process.pid}`);
}

/** A fresh lower-case identifier (schema or role name) unique to this process. */
export function freshName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString("hex")}_${process.pid}`;
}

/** Runs statements as the test server's superuser on a short-lived connection. */
export const su = pgQuery;

export async function roleExists(name: string): Promise<boolean> {
  return (await su("SELECT 1 FROM pg_roles WHERE rolname = $1", [name])).length === 1;
}

export async function schemaExists(name: string): Promise<boolean> {
  return (await su("SELECT 1 FROM pg_namespace WHERE nspname = $1", [name])).length === 1;
}

const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
const created: Array<{ schema?: string; role?: string }> = [];

/** Registers a schema and/or role for removal after the current test (call BEFORE creating them). */
export function cleanupLater(names: { schema?: string; role?: string }): void {
  created.push(names);
}

/** A fresh tenant name pair, dropped after the test whatever happens. */
export function freshTenant(): { schemaName: string; username: string } {
  const names = { schemaName: freshName("tn"), username: freshName("tu") };
  cleanupLater({ schema: names.schemaName, role: names.username });
  return names;
}

/** Drops what {@link cleanupLater} registered. Registered by every test file that imports this module. */
export async function dropRegistered(): Promise<void> {
  const items = created.splice(0);
  if (!items.length || !pgUrl) return;
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    for (const { schema } of items) if (schema) await client.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    for (const { role } of items) {
      if (!role) continue;
      const exists = (await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role])).rowCount;
      if (!exists) continue;
      await client.query(`DROP OWNED BY ${q(role)}`);
      await client.query(`DROP ROLE ${q(role)}`);
    }
  } finally {
    await client.end();
  }
}

afterEach(dropRegistered);

/**
 * True when `password` is the role's real password: reads the SCRAM-SHA-256 verifier PostgreSQL stores in
 * pg_authid and recomputes StoredKey and ServerKey from the password with the stored salt and iteration
 * count (SASLprep as PostgreSQL applies it). The test server trusts every login, so a login proves nothing.
 */
export async function isRolePassword(role: string, password: string): Promise<boolean> {
  const [row] = await su<{ rolpassword: string | null }>("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [role]);
  const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(row?.rolpassword ?? "");
  if (!m) throw new Error(`role ${role} has no SCRAM-SHA-256 verifier (rolpassword: ${row?.rolpassword === null ? "null" : "other"})`);
  const prepared = password
    .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, " ")
    .replace(/[\u00AD\u034F\u1806\u180B\u180C\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, "")
    .normalize("NFKC");
  const salted = pbkdf2Sync(prepared, Buffer.from(m[2]!, "base64"), Number(m[1]), 32, "sha256");
  const storedKey = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest("base64");
  const serverKey = createHmac("sha256", salted).update("Server Key").digest("base64");
  return storedKey === m[3] && serverKey === m[4];
}

/** Connects with `url` (e.g. a tenant's connection string) through `pg`, runs `fn`, disconnects. */
export async function asClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a statement fails with, or "ok". */
export async function sqlstate(client: pg.Client, sql: string): Promise<string> {
  try {
    await client.query(sql);
    return "ok";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}
