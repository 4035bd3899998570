/** Tenant configuration and credentials. Passwords are kept out of every printable form. */
import { inspect } from "node:util";
import { maskUrl } from "../database-url.js";

/** What {@link TenantConfig} accepts. */
export interface TenantConfigInit {
  /** The tenant's schema: `^[A-Za-z_][A-Za-z0-9_]{0,62}$`, not `public`, `information_schema` or `pg_*`. */
  schemaName: string;
  /** The tenant's login role (same rules as a schema name). */
  username: string;
  /** The role's password; empty or absent → a 32-character alphanumeric password is generated. */
  password?: string;
}

/** A tenant to create with `DatabaseAdmin.createTenant`. A plain {@link TenantConfigInit} object works too. */
export class TenantConfig {
  readonly schemaName: string;
  readonly username: string;
  /** The requested password (empty = generate one). Not enumerable, so it is not printed with the object. */
  declare readonly password: string;

  constructor(init: TenantConfigInit) {
    this.schemaName = init.schemaName;
    this.username = init.username;
    Object.defineProperty(this, "password", { value: init.password ?? "", enumerable: false });
  }

  /** `TenantConfig(schemaName=…, username=…, password=***)` — never the password. */
  toString(): string {
    return `TenantConfig(schemaName=${this.schemaName}, username=${this.username}, password=***)`;
  }

  /** JSON without the password. */
  toJSON(): object {
    return { schemaName: this.schemaName, username: this.username, password: "***" };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * What `createTenant` returns. `password` and `connectionString` are readable properties, but they are not
 * enumerable and are masked in `toString()`, `toJSON()` and `util.inspect`, so logging the object never leaks
 * the password. `new DefaultRunner(credentials.connectionString)` runs in the tenant's schema; `psql` accepts
 * the string as it is.
 */
export class TenantCredentials {
  readonly username: string;
  readonly schemaName: string;
  /** The tenant role's password. */
  declare readonly password: string;
  /** `postgresql://user:password@host:port/db?options=-c%20search_path%3Dschema` (plus the admin URL's TLS settings). */
  declare readonly connectionString: string;

  /** @internal */
  constructor(init: { username: string; schemaName: string; password: string; connectionString: string }) {
    this.username = init.username;
    this.schemaName = init.schemaName;
    Object.defineProperty(this, "password", { value: init.password, enumerable: false });
    Object.defineProperty(this, "connectionString", { value: init.connectionString, enumerable: false });
  }

  /** The credentials with the password masked. */
  toString(): string {
    return `TenantCredentials(username=${this.username}, schemaName=${this.schemaName}, password=***, connectionString=${maskUrl(this.connectionString)})`;
  }

  /** JSON with the password masked. */
  toJSON(): object {
    return { username: this.username, schemaName: this.schemaName, password: "***", connectionString: maskUrl(this.connectionString) };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
