import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  maskUrl,
  parseDatabaseUrl,
  postgresConnectionString,
  quoteIdent,
  validateSchemaName,
  type PostgresTarget,
  type SqliteTarget,
} from "../src/database-url.js";
import { ConfigurationError } from "../src/errors.js";

/** Runs `fn`, expects a ConfigurationError and returns it. */
function configError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).code).toBe("CONFIGURATION");
    return err as ConfigurationError;
  }
  throw new Error("expected a ConfigurationError, nothing was thrown");
}

/** Parse error for `url`; asserts that no form of `secret` appears in the error. */
function urlError(url: string, secret?: string): ConfigurationError {
  const err = configError(() => parseDatabaseUrl(url));
  if (secret !== undefined) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      expect(err.message).not.toContain(form);
      expect(String(err)).not.toContain(form);
    }
  }
  return err;
}

function sqlite(url: string): SqliteTarget {
  const t = parseDatabaseUrl(url);
  if (t.kind !== "sqlite") throw new Error(`expected sqlite, got ${t.kind}`);
  return t;
}

function postgres(url: string): PostgresTarget {
  const t = parseDatabaseUrl(url);
  if (t.kind !== "postgres") throw new Error(`expected postgres, got ${t.kind}`);
  return t;
}

const SQLITE_LIST = "accepted SQLite parameters: mode=ro|rw|rwc";
const PG_LIST = "accepted PostgreSQL parameters: pool_min_size=";

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("SQLite URLs (SPEC §2.6 table)", () => {
  it.each([
    ["sqlite:///workflows.db", "workflows.db"],
    ["sqlite://workflows.db", "workflows.db"],
    ["sqlite:///./data/workflows.db", "data/workflows.db"],
    ["sqlite://./data/workflows.db", "data/workflows.db"],
    ["sqlite:///dev_workflows.db", "dev_workflows.db"],
    ["sqlite:///../up/wf.db", "../up/wf.db"],
  ])("%s is relative to the working directory", (url, rel) => {
    const t = sqlite(url);
    expect(t.path).toBe(path.resolve(process.cwd(), rel));
    expect(path.isAbsolute(t.path)).toBe(true);
    expect(t.memory).toBe(false);
  });

  it("four slashes give an absolute path", () => {
    const t = sqlite("sqlite:////var/lib/app/wf.db");
    expect(t.path).toBe("/var/lib/app/wf.db");
    expect(t.memory).toBe(false);
  });

  it("relative paths follow process.cwd() at parse time", () => {
    const spy = vi.spyOn(process, "cwd").mockReturnValue("/srv/app");
    try {
      expect(sqlite("sqlite:///workflows.db").path).toBe("/srv/app/workflows.db");
      expect(sqlite("sqlite:///./data/wf.db").path).toBe("/srv/app/data/wf.db");
    } finally {
      spy.mockRestore();
    }
  });

  it.each(["sqlite:///:memory:", "sqlite://:memory:"])("%s is a private in-memory database", (url) => {
    const t = sqlite(url);
    expect(t.memory).toBe(true);
    expect(t.path).toBe(":memory:");
    expect(t.journalMode).toBe("MEMORY");
    expect(t.display).toBe("sqlite:///:memory:");
  });

  it("has the SPEC defaults: rwc, WAL, busy_timeout 5000, synchronous FULL", () => {
    const t = sqlite("sqlite:///workflows.db");
    expect(t).toMatchObject({ kind: "sqlite", mode: "rwc", journalMode: "WAL", busyTimeoutMs: 5000, synchronous: "FULL" });
  });

  it("percent-decodes the path", () => {
    expect(sqlite("sqlite:///my%20data/wf%3F%23%25.db").path).toBe(path.resolve("my data/wf?#%.db"));
    expect(sqlite("sqlite:////tmp/a%2Fb.db").path).toBe("/tmp/a/b.db");
  });

  it("accepts the scheme in any case and ignores surrounding whitespace", () => {
    expect(sqlite("  SQLite:///wf.db\n").path).toBe(path.resolve("wf.db"));
  });

  it("honours every parameter", () => {
    for (const mode of ["ro", "rw", "rwc"] as const) expect(sqlite(`sqlite:///wf.db?mode=${mode}`).mode).toBe(mode);
    for (const jm of ["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"]) {
      expect(sqlite(`sqlite:///wf.db?_journal_mode=${jm}`).journalMode).toBe(jm);
      expect(sqlite(`sqlite:///wf.db?_journal_mode=${jm.toLowerCase()}`).journalMode).toBe(jm);
    }
    expect(sqlite("sqlite:///wf.db?_busy_timeout=0").busyTimeoutMs).toBe(0);
    expect(sqlite("sqlite:///wf.db?_busy_timeout=12345").busyTimeoutMs).toBe(12345);
    for (const [given, sync] of [
      ["OFF", "OFF"], ["normal", "NORMAL"], ["Full", "FULL"], ["extra", "EXTRA"],
      ["0", "OFF"], ["1", "NORMAL"], ["2", "FULL"], ["3", "EXTRA"],
    ]) {
      expect(sqlite(`sqlite:///wf.db?_synchronous=${given}`).synchronous).toBe(sync);
    }
  });

  it("parses every SQLite URL of the backend-selection page", () => {
    expect(sqlite("sqlite:///workflows.db?mode=rwc&_journal_mode=WAL")).toMatchObject({ mode: "rwc", journalMode: "WAL" });
    expect(sqlite("sqlite:///workflows.db?_busy_timeout=5000").busyTimeoutMs).toBe(5000);
    const perf = sqlite("sqlite:///workflows.db?mode=rwc&_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000");
    expect(perf).toMatchObject({
      path: path.resolve("workflows.db"),
      mode: "rwc",
      journalMode: "WAL",
      synchronous: "NORMAL",
      busyTimeoutMs: 5000,
    });
    expect(sqlite("sqlite:///old_workflows.db").path).toBe(path.resolve("old_workflows.db"));
  });

  it("ignores empty query segments", () => {
    expect(sqlite("sqlite:///wf.db?").mode).toBe("rwc");
    expect(sqlite("sqlite:///wf.db?&mode=ro&&").mode).toBe("ro");
  });

  it("display is canonical and parses back to the same target", () => {
    for (const url of [
      "sqlite:///workflows.db",
      "sqlite:////var/lib/app/wf.db?mode=ro&_journal_mode=delete&_busy_timeout=10&_synchronous=extra",
      "sqlite:///odd%3Fname%23x%25.db?_synchronous=NORMAL",
      "sqlite://:memory:?_journal_mode=OFF",
    ]) {
      const t = sqlite(url);
      expect(parseDatabaseUrl(t.display)).toEqual(t);
    }
    expect(sqlite("sqlite:////var/lib/app/wf.db").display).toBe("sqlite:////var/lib/app/wf.db");
  });

  describe("rejects", () => {
    it.each([
      ["sqlite:///wf.db?cache=shared", ['"cache"', "shared cache"]],
      ["sqlite:///:memory:?cache=shared", ['"cache"']],
      ["sqlite:///wf.db?foo=1", ['unknown parameter "foo"']],
      ["sqlite:///wf.db?_timeout=1", ['unknown parameter "_timeout"']],
      ["sqlite:///wf.db?mode=ro&mode=rw", ['"mode" is given more than once']],
      ["sqlite:///wf.db?mode=RO", ['mode="RO" is not accepted']],
      ["sqlite:///wf.db?mode=readonly", ['mode="readonly" is not accepted']],
      ["sqlite:///wf.db?mode=memory", ["sqlite:///:memory:"]],
      ["sqlite:///wf.db?_journal_mode=fast", ['_journal_mode="fast" is not accepted']],
      ["sqlite:///wf.db?_busy_timeout=-1", ['_busy_timeout="-1" is not accepted']],
      ["sqlite:///wf.db?_busy_timeout=1.5", ["whole number of milliseconds"]],
      ["sqlite:///wf.db?_busy_timeout=1e3", ['_busy_timeout="1e3"']],
      ["sqlite:///wf.db?_busy_timeout=", ['_busy_timeout=""']],
      ["sqlite:///wf.db?_busy_timeout=99999999999", ["_busy_timeout"]],
      ["sqlite:///wf.db?_synchronous=4", ['_synchronous="4" is not accepted']],
      ["sqlite:///wf.db?_synchronous=yes", ['_synchronous="yes"']],
      ["sqlite:///wf.db?mode", ['parameter "mode" has no value']],
    ])("%s", (url, fragments) => {
      const err = urlError(url);
      for (const f of fragments) expect(err.message).toContain(f);
      expect(err.message).toContain(SQLITE_LIST);
      expect(err.message).toContain("_journal_mode=WAL|DELETE|TRUNCATE|PERSIST|MEMORY|OFF");
      expect(err.message).toContain("_busy_timeout=");
      expect(err.message).toContain("_synchronous=OFF|NORMAL|FULL|EXTRA");
    });

    it.each(["sqlite://", "sqlite:///", "sqlite:///?mode=rw", "sqlite://?mode=ro"])("an empty path: %s", (url) => {
      expect(urlError(url).message).toContain("the file path is missing");
    });

    it("a path naming a folder", () => {
      expect(urlError("sqlite:////var/lib/").message).toContain("names a folder");
      expect(urlError("sqlite:////").message).toContain("names a folder");
    });

    it("mode=ro with :memory:, explaining why", () => {
      const err = urlError("sqlite:///:memory:?mode=ro");
      expect(err.message).toContain("mode=ro cannot be used with :memory:");
      expect(err.message).toContain("empty");
    });

    it("a journal mode an in-memory database cannot use", () => {
      expect(urlError("sqlite:///:memory:?_journal_mode=WAL").message).toContain("MEMORY or OFF");
      expect(sqlite("sqlite:///:memory:?_journal_mode=off").journalMode).toBe("OFF");
    });

    it("malformed percent-encoding, fragments and NUL characters", () => {
      expect(urlError("sqlite:///wf%zz.db").message).toContain("percent-encoding");
      expect(urlError("sqlite:///wf.db?mode=%zz").message).toContain("percent-encoding");
      expect(urlError("sqlite:///wf.db#x").message).toContain("fragment");
      expect(urlError("sqlite:///wf%00.db").message).toContain("NUL");
    });
  });
});

describe("PostgreSQL URLs", () => {
  it("parses the basic form", () => {
    const t = postgres("postgresql://user:password@localhost:5432/cloacina");
    expect(t).toEqual({
      kind: "postgres",
      host: "localhost",
      port: 5432,
      database: "cloacina",
      user: "user",
      password: "password",
      poolMin: undefined,
      poolMax: undefined,
      poolTimeoutMs: undefined,
      sslmode: undefined,
      sslrootcert: undefined,
      connectTimeoutMs: undefined,
      applicationName: undefined,
      options: undefined,
      searchPath: undefined,
      display: "postgresql://user:***@localhost:5432/cloacina",
    });
  });

  it("accepts postgres:// and any case of the scheme", () => {
    expect(postgres("postgres://u:p@db.example.com:6543/app")).toMatchObject({ host: "db.example.com", port: 6543, database: "app" });
    expect(postgres("PostgreSQL://u@h/d").database).toBe("d");
  });

  it("parses every PostgreSQL URL of the backend-selection page", () => {
    expect(postgres("postgresql://user:password@localhost:5432/cloacina")).toMatchObject({ user: "user", database: "cloacina" });
    expect(postgres("postgresql://admin:admin@localhost:5432/cloacina")).toMatchObject({ user: "admin", password: "admin" });
    expect(postgres("postgresql://user:password@localhost:5432/cloacina?pool_min_size=5&pool_max_size=20")).toMatchObject({
      poolMin: 5,
      poolMax: 20,
    });
    expect(postgres("postgresql://user:password@host:5432/db?sslmode=require").sslmode).toBe("require");
    expect(postgres("postgresql://user:password@host:5432/db?connect_timeout=10").connectTimeoutMs).toBe(10_000);
    expect(postgres("postgresql://test:test@localhost:5432/test_db").database).toBe("test_db");
    expect(postgres("postgresql://user:pass@host/db")).toMatchObject({ host: "host", port: 5432, database: "db" });
    expect(postgres("postgresql://user:pass@host:5432/db")).toMatchObject({ user: "user", password: "pass" });
    expect(postgres("postgresql://user:pass@host:5432/cloacina?pool_min_size=5&pool_max_size=20&pool_timeout=30")).toMatchObject({
      poolMin: 5,
      poolMax: 20,
      poolTimeoutMs: 30_000,
    });
  });

  it("defaults the host to localhost and the port to 5432", () => {
    expect(postgres("postgresql://u:p@/db")).toMatchObject({ host: "localhost", port: 5432 });
    expect(postgres("postgresql:///db")).toMatchObject({ host: "localhost", port: 5432 });
    expect(postgres("postgresql://u@h:/db").port).toBe(5432);
  });

  it("defaults the user to PGUSER, then the OS user", () => {
    vi.stubEnv("PGUSER", "from_pguser");
    expect(postgres("postgresql://h/db").user).toBe("from_pguser");
    expect(postgres("postgresql://:pw@h/db")).toMatchObject({ user: "from_pguser", password: "pw" });
    vi.stubEnv("PGUSER", "");
    expect(postgres("postgresql://h/db").user).toBe(os.userInfo().username);
    expect(postgres("postgresql://explicit@h/db").user).toBe("explicit");
  });

  it("treats an absent or empty password as undefined", () => {
    expect(postgres("postgresql://u@h/db").password).toBeUndefined();
    expect(postgres("postgresql://u:@h/db").password).toBeUndefined();
    expect(postgres("postgresql://u@h/db").display).toBe("postgresql://u@h:5432/db");
  });

  it("percent-decodes credentials and the database name", () => {
    const t = postgres("postgresql://us%40er%3Ax:p%40ss%3Aw%2Frd%20%25%3F%23@h/my%20db");
    expect(t.user).toBe("us@er:x");
    expect(t.password).toBe("p@ss:w/rd %?#");
    expect(t.database).toBe("my db");
    expect(t.display).toBe("postgresql://us%40er%3Ax:***@h:5432/my%20db");
  });

  it("supports IPv6 hosts in brackets", () => {
    expect(postgres("postgresql://u:p@[::1]:5433/db")).toMatchObject({ host: "::1", port: 5433 });
    expect(postgres("postgresql://u:p@[2001:db8::1]/db")).toMatchObject({ host: "2001:db8::1", port: 5432 });
    expect(postgres("postgresql://u:p@[::ffff:127.0.0.1]:6000/db").host).toBe("::ffff:127.0.0.1");
    expect(postgres("postgresql://u:p@[fe80::1%25eth0]/db").host).toBe("fe80::1%eth0");
    expect(postgres("postgresql://u:p@[::1]:5433/db").display).toBe("postgresql://u:***@[::1]:5433/db");
  });

  it("accepts IPv4 addresses and host names", () => {
    expect(postgres("postgresql://u@127.0.0.1:5432/db").host).toBe("127.0.0.1");
    expect(postgres("postgresql://u@db-1.internal_zone.example/db").host).toBe("db-1.internal_zone.example");
  });

  it("honours every parameter", () => {
    const t = postgres(
      "postgresql://u:p@h/db?pool_min_size=2&pool_max_size=8&pool_timeout=0.5&sslmode=verify-full" +
        "&sslrootcert=%2Fetc%2Fssl%2Fca.pem&connect_timeout=7&application_name=my%20app%26co" +
        "&options=-c%20statement_timeout%3D5000",
    );
    expect(t).toMatchObject({
      poolMin: 2,
      poolMax: 8,
      poolTimeoutMs: 500,
      sslmode: "verify-full",
      sslrootcert: "/etc/ssl/ca.pem",
      connectTimeoutMs: 7000,
      applicationName: "my app&co",
      options: "-c statement_timeout=5000",
      searchPath: undefined,
    });
    for (const mode of ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]) {
      expect(postgres(`postgresql://u@h/db?sslmode=${mode}`).sslmode).toBe(mode);
    }
    expect(postgres("postgresql://u@h/db?pool_min_size=4&pool_max_size=4")).toMatchObject({ poolMin: 4, poolMax: 4 });
    expect(postgres("postgresql://u@h/db?pool_timeout=30").poolTimeoutMs).toBe(30_000);
  });

  it("connect_timeout=0 means wait forever (undefined), as in libpq", () => {
    expect(postgres("postgresql://u@h/db?connect_timeout=0").connectTimeoutMs).toBeUndefined();
  });

  it("does not turn '+' into a space (libpq semantics)", () => {
    expect(postgres("postgresql://u@h/db?application_name=a+b").applicationName).toBe("a+b");
  });

  describe("search_path from options", () => {
    it.each([
      ["-c%20search_path%3Dtenant_a", "tenant_a"],
      ["-c search_path=tenant_a", "tenant_a"],
      ["-csearch_path=tenant_a", "tenant_a"],
      ["--search_path=tenant_a", "tenant_a"],
      ["--search-path=tenant_a", "tenant_a"],
      ["-c%20search_path%3Dtenant_a%2Cpublic", "tenant_a"],
      ["-c%20search_path%3DTenant_A", "tenant_a"],
      ["-c%20search_path%3D%22Tenant_A%22%2Cpublic", "Tenant_A"],
      ["-c%20statement_timeout%3D5000%20-c%20search_path%3Dtenant_b", "tenant_b"],
      ["-c%20search_path%3Done%20-c%20search_path%3Dtwo", "two"],
    ])("options=%s → %s", (options, schema) => {
      const t = postgres(`postgresql://u@h/db?options=${options}`);
      expect(t.searchPath).toBe(schema);
      expect(t.options).toBe(decodeURIComponent(options));
    });

    it.each([
      ["-c%20search_path%3Dpublic", "reserved"],
      ["-c%20search_path%3Dpg_catalog", "reserved"],
      ["-c%20search_path%3D%22%24user%22%2Cpublic", "invalid schema name"],
      ["-c%20search_path%3D", "search_path in options is empty"],
      ["-c%20search_path%3D%22unclosed", "unclosed double quote"],
      ["-c+search_path%3Dtenant_a", "'+' is not a space"],
      ["-c", "ends with '-c'"],
    ])("rejects options=%s", (options, fragment) => {
      expect(urlError(`postgresql://u:S3cr3tPw@h/db?options=${options}`, "S3cr3tPw").message).toContain(fragment);
    });
  });

  describe("rejects", () => {
    it("a URL without a database name, saying so (no invented default)", () => {
      for (const url of ["postgresql://u:p@h:5432", "postgresql://u:p@h:5432/", "postgresql://u:p@h?sslmode=require"]) {
        expect(urlError(url).message).toContain("the database name is missing");
      }
    });

    it.each([
      ["postgresql://u:p@h:0/db", 'port "0"'],
      ["postgresql://u:p@h:65536/db", 'port "65536"'],
      ["postgresql://u:p@h:-1/db", "1–65535"],
      ["postgresql://u@h:abc/db", "1–65535"],
    ])("a bad port: %s", (url, fragment) => {
      expect(urlError(url).message).toContain(fragment);
    });

    it.each([
      ["postgresql://u@h/db?foo=1", 'unknown parameter "foo"'],
      ["postgresql://u@h/db?gssencmode=disable", 'unknown parameter "gssencmode"'],
      ["postgresql://u@h/db?sslmode=require&sslmode=disable", '"sslmode" is given more than once'],
      ["postgresql://u@h/db?pool_min_size=0", 'pool_min_size="0" is not accepted'],
      ["postgresql://u@h/db?pool_max_size=-3", 'pool_max_size="-3"'],
      ["postgresql://u@h/db?pool_max_size=2.5", "whole number ≥ 1"],
      ["postgresql://u@h/db?pool_min_size=10&pool_max_size=5", "pool_min_size (10) is larger than pool_max_size (5)"],
      ["postgresql://u@h/db?pool_timeout=0", 'pool_timeout="0" is not accepted'],
      ["postgresql://u@h/db?pool_timeout=-5", "seconds > 0"],
      ["postgresql://u@h/db?pool_timeout=30s", 'pool_timeout="30s"'],
      ["postgresql://u@h/db?sslmode=REQUIRE", 'sslmode="REQUIRE" is not accepted'],
      ["postgresql://u@h/db?sslmode=on", "disable, allow, prefer, require, verify-ca, verify-full"],
      ["postgresql://u@h/db?sslrootcert=", "sslrootcert is empty"],
      ["postgresql://u@h/db?connect_timeout=-1", 'connect_timeout="-1" is not accepted'],
      ["postgresql://u@h/db?connect_timeout=1.5", "whole seconds ≥ 0"],
      ["postgresql://u@h/db?host=%2Fvar%2Frun%2Fpostgresql", "Unix-domain sockets"],
      ["postgresql://u@h/db?port=5433", "the port goes in the URL itself"],
      ["postgresql://u@h/db?dbname=x", "the database name goes in the URL path"],
      ["postgresql://u@h/db?sslmode", '"sslmode" has no value'],
    ])("%s", (url, fragment) => {
      const err = urlError(url);
      expect(err.message).toContain(fragment);
      expect(err.message).toContain(PG_LIST);
      for (const name of ["pool_max_size", "pool_timeout", "sslmode=disable|allow|prefer|require|verify-ca|verify-full", "sslrootcert", "connect_timeout", "application_name", "options"]) {
        expect(err.message).toContain(name);
      }
    });

    it("Unix-socket hosts, several hosts and unbracketed IPv6", () => {
      expect(urlError("postgresql://u@%2Ftmp/db").message).toContain("Unix-domain socket hosts are not supported");
      expect(urlError("postgresql://u@h1:5432,h2:5432/db").message).toContain("several hosts are not supported");
      expect(urlError("postgresql://u@::1/db").message).toContain("IPv6 host must be written in brackets");
      expect(urlError("postgresql://u@[::1/db").message).toContain("no closing ']'");
      expect(urlError("postgresql://u@[nothex]/db").message).toContain("is not an IPv6 address");
      expect(urlError("postgresql://u@[::1]x/db").message).toContain("unexpected text after the IPv6 host");
      expect(urlError("postgresql://u@bad host/db").message).toContain("not a valid host name");
    });

    it("a '/' inside the database name and a fragment", () => {
      expect(urlError("postgresql://u@h/db/extra").message).toContain("contains '/'");
      expect(urlError("postgresql://u@h/db#frag").message).toContain("fragment");
    });
  });

  describe("never puts the password in an error", () => {
    const SECRET = "S3cr3tPw";
    it.each([
      `postgresql://app:${SECRET}@h:5432/db?foo=1`,
      `postgresql://app:${SECRET}@h:99999/db`,
      `postgresql://app:${SECRET}@h/db?sslmode=bogus`,
      `postgresql://app:${SECRET}@h`,
      `postgresql://app:${SECRET}@h/`,
      `postgresql://app:${SECRET}@h/db?password=${SECRET}`,
      `postgresql://app:${SECRET}/x@h/db`,
      `postgresql://app:${SECRET}?x@h/db`,
      `postgresql://app:${SECRET}#x@h/db`,
      `postgresql://app:${SECRET}`,
      `postgresql://app:${SECRET}@@h/db?foo=1`,
      `postgresql://app:pa@${SECRET}@h/db?foo=1`,
      `postgresql://app:1234/${SECRET}@h/db`,
      `postgresql://app:1?sslmode=${SECRET}@h/db`,
      `postgresql://app:${SECRET}%zz@h/db`,
      `postgresql://app:${SECRET}@[::1/db`,
      `postgresql://app:${SECRET}@h/db?options=-c%20search_path%3Dpublic`,
      `postgresql://app:${SECRET}@h/db?pool_min_size=9&pool_max_size=1`,
      `postgres://app:${SECRET}@h/db?host=/tmp`,
      `mysql://app:${SECRET}@h/db`,
      `https://app:${SECRET}@h/db`,
      `app:${SECRET}@h/db`,
      `postgresql:/app:${SECRET}@h/db`,
      `host=h user=app password=${SECRET} dbname=db`,
      `sqlite://app:${SECRET}@x.db?cache=shared`,
    ])("%s", (url) => {
      const err = urlError(url, SECRET);
      expect(err.message.length).toBeGreaterThan(20);
    });

    it("nor a password that needs percent-encoding, in either form", () => {
      const secret = "p@ss/w?rd#1";
      urlError(`postgresql://app:${encodeURIComponent(secret)}@h/db?foo=1`, secret);
      urlError(`postgresql://app:${encodeURIComponent(secret)}@h:0/db`, secret);
    });
  });

  it("display masks the password and parses back to the same fields", () => {
    const t = postgres(
      "postgresql://app:s%40cret@[::1]:6543/prod?sslmode=require&pool_max_size=20&application_name=svc&options=-c%20search_path%3Dtenant_a",
    );
    expect(t.display).not.toContain("s%40cret");
    expect(t.display).not.toContain("s@cret");
    expect(t.display).toContain("app:***@[::1]:6543/prod");
    const back = postgres(t.display);
    expect({ ...back, password: t.password }).toEqual(t);
  });
});

describe("unsupported URLs", () => {
  it.each([
    "mysql://u:p@h/db",
    "",
    "   ",
    "workflows.db",
    ":memory:",
    "./data/wf.db",
    "sqlite:workflows.db",
    "file:wf.db?mode=memory",
    "http://h/db",
    "postgresql:/h/db",
    "not a url at all",
  ])("%j", (url) => {
    const err = urlError(url);
    expect(err.message).toContain("unsupported database URL");
    expect(err.message).toContain("use sqlite:///path/to/file.db, sqlite:///:memory: or postgresql://user:pass@host:5432/db");
  });

  it("non-string input", () => {
    expect(configError(() => parseDatabaseUrl(42 as unknown as string)).message).toContain("must be a string");
  });

  it("bounds the length of a hostile URL in the message", () => {
    const err = urlError(`mysql://${"x".repeat(10_000)}`);
    expect(err.message.length).toBeLessThan(500);
  });
});

describe("maskUrl", () => {
  it.each([
    ["postgresql://app:s3cret@db:5432/prod", "postgresql://app:***@db:5432/prod"],
    ["postgres://app:s3cret@[::1]/prod?sslmode=require", "postgres://app:***@[::1]/prod?sslmode=require"],
    ["postgresql://app@db/prod", "postgresql://app@db/prod"],
    ["postgresql://db:5432/prod", "postgresql://db:5432/prod"],
    ["postgresql://:s3cret@db/prod", "postgresql://:***@db/prod"],
    ["postgresql://app:p%40ss@db/prod", "postgresql://app:***@db/prod"],
    ["postgresql://app:pa/ss@db/prod", "postgresql://app:***@db/prod"],
    ["postgresql://app:p@ss@db/prod", "postgresql://app:***@db/prod"],
    ["postgresql://app:p?s#s@db/prod", "postgresql://app:***@db/prod"],
    ["postgresql://app:s3cret", "postgresql://app:***"],
    ["postgresql:/app:s3cret@db/prod", "postgresql:***@db/prod"],
    ["app:s3cret@db/prod", "app:***@db/prod"],
    ["redis://u:s3cret@cache:6379", "redis://u:***@cache:6379"],
    ["postgresql://app@db/prod?password=s3cret&sslmode=require", "postgresql://app@db/prod?password=***&sslmode=require"],
    ["postgresql://app@db/prod?sslpassword=s3cret", "postgresql://app@db/prod?sslpassword=***"],
    ["host=db user=app password=s3cret dbname=prod", "host=db user=app password=*** dbname=prod"],
    ["host=db password='s3 cret' dbname=prod", "host=db password=*** dbname=prod"],
    ["sqlite:///:memory:", "sqlite:///:memory:"],
    ["sqlite://:memory:", "sqlite://:memory:"],
    ["sqlite:////var/lib/wf.db?mode=ro", "sqlite:////var/lib/wf.db?mode=ro"],
    ["", ""],
  ])("%s → %s", (input, masked) => {
    expect(maskUrl(input)).toBe(masked);
  });

  it("masks too much rather than too little when '@' appears after the host", () => {
    const masked = maskUrl("postgresql://app:s3cret@db/prod?application_name=a@b");
    expect(masked).not.toContain("s3cret");
  });
});

describe("validateSchemaName", () => {
  it.each(["tenant_a", "_x", "A1", "Tenant_Acme", "a".repeat(63), "publicity", "pgx", "my_pg_schema"])("accepts %s", (name) => {
    expect(validateSchemaName(name)).toBe(name);
  });

  it.each([
    ["", "invalid schema name"],
    ["1abc", "invalid schema name"],
    ["a-b", "invalid schema name"],
    ["a b", "invalid schema name"],
    ["a.b", "invalid schema name"],
    ["a$b", "invalid schema name"],
    ["tenant;drop", "invalid schema name"],
    ["schéma", "invalid schema name"],
    ["a".repeat(64), "invalid schema name"],
    ["public", "reserved"],
    ["PUBLIC", "reserved"],
    ["information_schema", "reserved"],
    ["Information_Schema", "reserved"],
    ["pg_catalog", "reserved"],
    ["pg_temp", "reserved"],
    ["PG_foo", "reserved"],
  ])("rejects %j", (name, fragment) => {
    const err = configError(() => validateSchemaName(name));
    expect(err.message).toContain(fragment);
    expect(err.message).toContain("1–63 characters of letters, digits and _");
    expect(err.message).toContain("public, information_schema or start with pg_");
  });

  it("quotes at most 80 characters of hostile input", () => {
    const hostile = `x"; DROP SCHEMA public CASCADE; --${"y".repeat(5000)}`;
    const err = configError(() => validateSchemaName(hostile));
    expect(err.message).not.toContain(hostile.slice(0, 81));
    expect(err.message).toContain(JSON.stringify(hostile.slice(0, 80)).slice(1, -1));
    expect(err.message.length).toBeLessThan(400);
  });

  it("rejects non-strings", () => {
    expect(configError(() => validateSchemaName(undefined as unknown as string)).message).toContain("must be a string");
  });
});

describe("quoteIdent", () => {
  it("double-quotes and doubles inner quotes", () => {
    expect(quoteIdent("tenant_a")).toBe('"tenant_a"');
    expect(quoteIdent("Tenant_A")).toBe('"Tenant_A"');
    expect(quoteIdent('a"b""c')).toBe('"a""b""""c"');
  });

  it("rejects empty names and NUL characters", () => {
    configError(() => quoteIdent(""));
    configError(() => quoteIdent("a\0b"));
  });
});

describe("postgresConnectionString", () => {
  const FULL =
    "postgresql://app:p%40ss%2Fw%3Frd@db.example.com:6543/prod?pool_min_size=2&pool_max_size=9&pool_timeout=1.5" +
    "&sslmode=verify-ca&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem&connect_timeout=12&application_name=svc%20%26%20co" +
    "&options=-c%20statement_timeout%3D100%20-c%20search_path%3Dtenant_a";

  it("round-trips through parseDatabaseUrl with the same fields", () => {
    const t = postgres(FULL);
    const url = postgresConnectionString(t, { includePoolParameters: true });
    expect(postgres(url)).toEqual(t);
  });

  it("leaves out cloaca's pool parameters by default so that libpq (psql) accepts the URL", () => {
    const t = postgres(FULL);
    const url = postgresConnectionString(t);
    expect(url).not.toContain("pool_");
    const back = postgres(url);
    expect({ ...back, poolMin: 2, poolMax: 9, poolTimeoutMs: 1500, display: t.display }).toEqual(t);
  });

  it("round-trips IPv6 hosts, odd credentials and minimal URLs", () => {
    for (const url of [
      "postgresql://u@[::1]/db",
      "postgresql://u%20x:%F0%9F%94%91%3A%40@[2001:db8::5]:1/d%2Fb",
      "postgresql://u@h/db?connect_timeout=0",
      "postgresql://u:p@h/db?options=--work_mem%3D8MB",
    ]) {
      const t = postgres(url);
      expect(postgres(postgresConnectionString(t))).toEqual(t);
    }
  });

  it("builds a tenant connection string with the search path in options", () => {
    const admin = postgres("postgresql://admin:admin@localhost:5432/cloacina?sslmode=require");
    const url = postgresConnectionString(admin, { user: "acme_user", password: "Zx9 @/?#:%", searchPath: "tenant_acme" });
    expect(url).toBe(
      "postgresql://acme_user:Zx9%20%40%2F%3F%23%3A%25@localhost:5432/cloacina?sslmode=require" +
        "&options=-c%20search_path%3Dtenant_acme",
    );
    expect(postgres(url)).toMatchObject({
      user: "acme_user",
      password: "Zx9 @/?#:%",
      database: "cloacina",
      sslmode: "require",
      searchPath: "tenant_acme",
    });
  });

  it("quotes a schema name PostgreSQL would otherwise fold to lower case", () => {
    const t = postgres("postgresql://u@h/db");
    const url = postgresConnectionString(t, { searchPath: "Tenant_A" });
    expect(url).toContain("options=-c%20search_path%3D%22Tenant_A%22");
    expect(postgres(url).searchPath).toBe("Tenant_A");
  });

  it("replaces an existing search_path but keeps the other options", () => {
    const t = postgres("postgresql://u@h/db?options=-c%20statement_timeout%3D100%20--search_path%3Dold%20-csearch_path%3Dolder");
    const back = postgres(postgresConnectionString(t, { searchPath: "fresh" }));
    expect(back.searchPath).toBe("fresh");
    expect(back.options).toBe("-c statement_timeout=100 -c search_path=fresh");
  });

  it("keeps backslash-escaped spaces in options", () => {
    const t = postgres("postgresql://u@h/db?options=-c%20application_name%3Da%5C%20b");
    const back = postgres(postgresConnectionString(t, { searchPath: "s" }));
    expect(back.options).toBe("-c application_name=a\\ b -c search_path=s");
  });

  it("overrides the database and drops the password when given an empty one", () => {
    const t = postgres("postgresql://u:p@h/db");
    expect(postgresConnectionString(t, { database: "other", password: "" })).toBe("postgresql://u@h:5432/other");
  });

  it("validates overrides", () => {
    const t = postgres("postgresql://u:p@h/db");
    expect(configError(() => postgresConnectionString(t, { searchPath: "public" })).message).toContain("reserved");
    expect(configError(() => postgresConnectionString(t, { searchPath: "a-b" })).message).toContain("invalid schema name");
    configError(() => postgresConnectionString(t, { user: "" }));
    configError(() => postgresConnectionString(t, { database: "" }));
  });
});
