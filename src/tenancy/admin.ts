/**
 * `DatabaseAdmin`: provisions and removes tenants on PostgreSQL. A tenant is a login role plus a schema it
 * owns, with the engine tables migrated inside it — all created in one transaction, so a failure leaves
 * nothing half-made. The role can reach its own schema only: it is created NOSUPERUSER NOCREATEDB
 * NOCREATEROLE, other tenants' schemas grant it nothing, and PostgreSQL 15 gives no one CREATE on `public`.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, randomInt } from "node:crypto";
import {
  parseDatabaseUrl,
  postgresConnectionString,
  quoteIdent,
  validateSchemaName,
  type PostgresTarget,
} from "../database-url.js";
import { CloacaError, ConfigurationError, TenantError } from "../errors.js";
import { postgresMigrations } from "../store/migrations.js";
import { PostgresDriver } from "../store/postgres/driver.js";
import { postgresDialect, postgresHooks } from "../store/postgres/dialect.js";
import { SqlStore } from "../store/sql-store.js";
import type { Driver, Queryable } from "../store/store.js";
import { TenantConfig, TenantCredentials, type TenantConfigInit } from "./tenant.js";

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A 32-character alphanumeric password from the system's CSPRNG. */
export function generatePassword(length = 32): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return out;
}

/**
 * SASLprep (RFC 4013) as PostgreSQL's server and clients (libpq, `pg`) apply it to a password before
 * hashing: non-ASCII spaces become U+0020, "commonly mapped to nothing" characters are removed, then NFKC.
 * (NFKC alone leaves e.g. U+00AD and U+200B in place, and the role then could not log in.)
 */
function saslprep(password: string): string {
  return password
    .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, " ")
    .replace(/[\u00AD\u034F\u1806\u180B\u180C\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g, "")
    .normalize("NFKC");
}

/**
 * The SCRAM-SHA-256 verifier of a password, as PostgreSQL stores it. Sending the verifier instead of the
 * password means the plain password never reaches the server (nor its statement log).
 */
function scramVerifier(password: string): string {
  const salt = randomBytes(16);
  const iterations = 4096;
  const salted = pbkdf2Sync(saslprep(password), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

function validateRoleName(name: unknown): string {
  if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name) || /^pg_/i.test(name)) {
    throw new ConfigurationError(
      `invalid tenant username ${JSON.stringify(String(name).slice(0, 80))}: 1–63 characters, letters, digits and _, ` +
        "not starting with a digit or pg_",
    );
  }
  return name;
}

function validatePassword(password: unknown): string | undefined {
  if (password === undefined || password === null || password === "") return undefined;
  if (typeof password !== "string" || password.length > 1000 || password.includes("\0")) {
    throw new ConfigurationError("a tenant password must be a string of at most 1000 characters without NUL");
  }
  return password;
}

/** One tenant as {@link DatabaseAdmin.listTenants} reports it. */
export interface TenantInfo {
  /** The schema holding the tenant's engine tables. */
  readonly schemaName: string;
  /** The role that owns the schema. */
  readonly username: string;
}

/**
 * Provisions tenants on a PostgreSQL server. Connect with a role that may create roles and schemas (a
 * superuser, or a role with CREATEROLE that owns the database).
 *
 * ```ts
 * const admin = new DatabaseAdmin("postgresql://admin:admin@localhost:5432/cloacina");
 * const credentials = await admin.createTenant(new TenantConfig({ schemaName: "tenant_acme", username: "acme_user", password: "" }));
 * const runner = new DefaultRunner(credentials.connectionString);
 * ```
 */
export class DatabaseAdmin {
  readonly #target: PostgresTarget;
  #driver: Promise<PostgresDriver> | undefined;

  /** @throws {ConfigurationError} for a SQLite URL ("Admin API requires PostgreSQL") or a malformed URL. */
  constructor(adminUrl: string) {
    const target = parseDatabaseUrl(adminUrl);
    if (target.kind !== "postgres") {
      throw new ConfigurationError(
        "Admin API requires PostgreSQL: tenants are PostgreSQL roles and schemas (with SQLite, use one database file per tenant)",
      );
    }
    this.#target = target;
  }

  /** The admin URL with its password masked. */
  get databaseUrl(): string {
    return this.#target.display;
  }

  #connect(): Promise<PostgresDriver> {
    this.#driver ??= PostgresDriver.open(this.#target, 2);
    this.#driver.catch(() => (this.#driver = undefined));
    return this.#driver;
  }

  async #inTransaction<T>(what: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const driver = await this.#connect();
    try {
      return await driver.transaction(fn);
    } catch (err) {
      if (err instanceof TenantError || err instanceof ConfigurationError) throw err;
      const cause = err instanceof CloacaError ? err.message : String(err);
      // PostgreSQL puts the useful part of e.g. "role cannot be dropped" in the detail ("privileges for database x").
      const detail = (err as { cause?: { detail?: unknown } }).cause?.detail;
      throw new TenantError(`${what} failed: ${cause}${typeof detail === "string" && detail ? ` (${detail.replace(/\s+/g, " ")})` : ""}`, {
        cause: err,
      });
    }
  }

  /**
   * Creates the tenant's role, its schema (owned by the role) and the engine tables in it, in one
   * transaction. Fails with {@link TenantError}, leaving nothing behind, when the role or the schema already
   * exists. An empty or absent password is replaced by a generated 32-character alphanumeric one.
   */
  async createTenant(config: TenantConfig | TenantConfigInit): Promise<TenantCredentials> {
    const schemaName = validateSchemaName(config?.schemaName);
    const username = validateRoleName(config?.username);
    const password = validatePassword(config?.password) ?? generatePassword();
    const schema = quoteIdent(schemaName);
    const role = quoteIdent(username);
    await this.#inTransaction(`creating tenant "${schemaName}"`, async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext(?))", [`cloaca:tenant:${schemaName}`]);
      const [roleRow] = await tx.query("SELECT 1 AS one FROM pg_roles WHERE rolname = ?", [username]);
      if (roleRow) throw new TenantError(`cannot create tenant "${schemaName}": role "${username}" already exists`);
      const [schemaRow] = await tx.query("SELECT 1 AS one FROM pg_namespace WHERE nspname = ?", [schemaName]);
      if (schemaRow) throw new TenantError(`cannot create tenant "${schemaName}": schema "${schemaName}" already exists`);
      // DDL takes no parameters: let the server quote the verifier literal with format(%L).
      const [ddl] = await tx.query<{ sql: string }>(
        "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L', ?::text, ?::text) AS sql",
        [username, scramVerifier(password)],
      );
      await tx.run(ddl!.sql);
      const [me] = await tx.query<{ su: boolean }>("SELECT rolsuper AS su FROM pg_roles WHERE rolname = current_user");
      // A non-superuser admin must be a member of the role to create the schema for it and SET ROLE to it.
      if (!me?.su) await tx.run(`GRANT ${role} TO CURRENT_USER`);
      await tx.run(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`);
      await tx.run(`REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`);
      // The engine tables are created as the tenant, so the tenant owns them.
      await tx.run(`SET LOCAL ROLE ${role}`);
      const inTx: Driver = {
        ...tx,
        transaction: async () => {
          throw new Error("nested transaction");
        },
        withAffinity: () => inTx,
        close: async () => undefined,
      };
      const store = new SqlStore(
        inTx,
        postgresDialect(schemaName),
        postgresMigrations,
        postgresHooks(schemaName),
      );
      await store.migrateIn(tx);
      await tx.run("RESET ROLE");
    });
    return new TenantCredentials({
      username,
      schemaName,
      password,
      connectionString: postgresConnectionString(this.#target, { user: username, password, searchPath: schemaName }),
    });
  }

  /**
   * Drops the tenant's schema (with everything in it) and its role, in one transaction. Real errors are
   * reported as {@link TenantError} and leave everything as it was: "no such tenant" when neither exists, a
   * schema that belongs to another role, and a role that still owns objects outside its schema (in this or
   * another database) — those are never dropped on the tenant's behalf.
   */
  async removeTenant(schemaName: string, username: string): Promise<void> {
    validateSchemaName(schemaName);
    validateRoleName(username);
    await this.#inTransaction(`removing tenant "${schemaName}"`, async (tx) => {
      const [roleRow] = await tx.query("SELECT 1 AS one FROM pg_roles WHERE rolname = ?", [username]);
      const [schemaRow] = await tx.query<{ owner: string }>(
        "SELECT r.rolname AS owner FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = ?",
        [schemaName],
      );
      if (!roleRow && !schemaRow) {
        throw new TenantError(`cannot remove tenant "${schemaName}": neither schema "${schemaName}" nor role "${username}" exists`);
      }
      if (schemaRow && schemaRow.owner !== username) {
        throw new TenantError(
          `cannot remove tenant "${schemaName}": schema "${schemaName}" belongs to role "${schemaRow.owner}", not "${username}"; nothing was removed`,
        );
      }
      if (schemaRow) await tx.run(`DROP SCHEMA ${quoteIdent(schemaName)} CASCADE`);
      if (roleRow) {
        // What the role still owns now lies outside its schema: refuse rather than drop someone's data.
        const owned = await tx.query<{ what: string | null; datname: string | null }>(
          "SELECT CASE WHEN d.dbid = 0 OR db.datname = current_database() THEN pg_describe_object(d.classid, d.objid, d.objsubid) END AS what, " +
            "db.datname AS datname FROM pg_shdepend d LEFT JOIN pg_database db ON db.oid = d.dbid " +
            "WHERE d.refclassid = 'pg_authid'::regclass AND d.deptype = 'o' AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = ?) " +
            "ORDER BY 1",
          [username],
        );
        if (owned.length > 0) {
          const listed = owned.slice(0, 10).map((o) => o.what ?? `an object in database "${o.datname}"`);
          throw new TenantError(
            `cannot remove tenant "${schemaName}": role "${username}" owns ${owned.length} object(s) outside schema "${schemaName}" ` +
              `(${listed.join(", ")}${owned.length > 10 ? ", …" : ""}); reassign or drop them first; nothing was removed`,
          );
        }
        // Only privileges and default privileges are left to drop here (it owns nothing any more).
        await tx.run(`DROP OWNED BY ${quoteIdent(username)}`);
        await tx.run(`DROP ROLE ${quoteIdent(username)}`);
      }
    });
  }

  /** Every schema on this database that holds cloaca's tables, with its owner. */
  async listTenants(): Promise<TenantInfo[]> {
    const driver = await this.#connect();
    const rows = await driver.query<{ schema_name: string; username: string }>(
      "SELECT n.nspname AS schema_name, r.rolname AS username FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner " +
        "WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'cloaca_migrations') ORDER BY 1",
    );
    return rows.map((r) => ({ schemaName: r.schema_name, username: r.username }));
  }

  /** Closes the admin connections. */
  async close(): Promise<void> {
    const d = this.#driver;
    this.#driver = undefined;
    if (d) await (await d.catch(() => undefined))?.close();
  }

  /** `await using admin = new DatabaseAdmin(url)` closes it at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export { TenantConfig, TenantCredentials };
