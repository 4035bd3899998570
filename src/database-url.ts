/**
 * Connection URLs for both backends (SPEC §2.6): parsing, validation, password masking, schema names.
 *
 * The backend is chosen by the URL alone. Every parameter we accept is honoured; anything else is a
 * {@link ConfigurationError} that lists what is accepted (the reference silently drops SQLite parameters and
 * hands unknown PostgreSQL ones to libpq). Passwords never appear in an error message: every message shows the
 * URL through {@link maskUrl}, and a piece of the URL is only quoted back when it cannot be part of a password.
 */
import os from "node:os";
import path from "node:path";
import { ConfigurationError } from "./errors.js";

/** SQLite open mode: read-only, read-write (file must exist), read-write-create. */
export type SqliteMode = "ro" | "rw" | "rwc";
/** SQLite `PRAGMA journal_mode` values. */
export type SqliteJournalMode = "WAL" | "DELETE" | "TRUNCATE" | "PERSIST" | "MEMORY" | "OFF";
/** SQLite `PRAGMA synchronous` values. */
export type SqliteSynchronous = "OFF" | "NORMAL" | "FULL" | "EXTRA";
/** libpq `sslmode` values. */
export type PostgresSslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";

/** A parsed `sqlite://` URL. */
export interface SqliteTarget {
  kind: "sqlite";
  /** Absolute filesystem path, or `":memory:"`. Relative URL paths are resolved against `process.cwd()` at parse time. */
  path: string;
  /** True for `sqlite:///:memory:` / `sqlite://:memory:`: a private in-memory database. */
  memory: boolean;
  /** `mode=`; default `"rwc"` (create the file if missing). `"rw"`: the file must exist. `"ro"`: read-only. */
  mode: SqliteMode;
  /**
   * `_journal_mode=` (case-insensitive in the URL, upper case here); default `"WAL"` for files and `"MEMORY"` for
   * `:memory:` (SQLite cannot use WAL in memory, so only `MEMORY` and `OFF` are accepted there).
   */
  journalMode: SqliteJournalMode;
  /** `_busy_timeout=` in milliseconds; default 5000. */
  busyTimeoutMs: number;
  /** `_synchronous=` (name, case-insensitive, or 0–3); default `"FULL"`. */
  synchronous: SqliteSynchronous;
  /** Canonical URL for logs: `sqlite:////abs/path.db` or `sqlite:///:memory:`, plus any non-default parameter. */
  display: string;
}

/** A parsed `postgresql://` / `postgres://` URL. `undefined` means "not given in the URL". */
export interface PostgresTarget {
  kind: "postgres";
  /** Host name, IPv4 address or IPv6 address (without brackets); default `"localhost"`. */
  host: string;
  /** Port, 1–65535; default 5432. */
  port: number;
  /** Database name (required; percent-decoded). */
  database: string;
  /** User name (percent-decoded); default `process.env.PGUSER`, else the OS user name. */
  user: string;
  /** Password (percent-decoded); `undefined` when absent or empty. */
  password: string | undefined;
  /** `pool_min_size=`: connections kept open. */
  poolMin: number | undefined;
  /** `pool_max_size=`: upper bound of the pool; when given it takes precedence over `dbPoolSize`. */
  poolMax: number | undefined;
  /** `pool_timeout=` (seconds in the URL): how long to wait for a free pooled connection, in ms. */
  poolTimeoutMs: number | undefined;
  /** `sslmode=` with its libpq meaning. */
  sslmode: PostgresSslMode | undefined;
  /** `sslrootcert=`: path of the CA certificate file (libpq meaning). */
  sslrootcert: string | undefined;
  /** `connect_timeout=` (whole seconds in the URL) in ms; `connect_timeout=0` (wait forever) gives `undefined`. */
  connectTimeoutMs: number | undefined;
  /** `application_name=`. */
  applicationName: string | undefined;
  /** `options=`: the libpq options string, passed to the server unchanged (it may hold more than a search path). */
  options: string | undefined;
  /**
   * Schema named first by `options=-c search_path=…` (or `--search_path=…`), as PostgreSQL resolves it: an unquoted
   * name is folded to lower case, a double-quoted one is kept exactly. Validated with {@link validateSchemaName}.
   */
  searchPath: string | undefined;
  /** The URL with the password replaced by `***`, built from the parsed fields (safe to log). */
  display: string;
}

/** What {@link parseDatabaseUrl} returns: switch on `kind`. */
export type DatabaseTarget = SqliteTarget | PostgresTarget;

/** SQLite defaults applied by {@link parseDatabaseUrl} (SPEC §2.6). */
export const SQLITE_DEFAULTS = Object.freeze({
  mode: "rwc" as SqliteMode,
  journalMode: "WAL" as SqliteJournalMode,
  memoryJournalMode: "MEMORY" as SqliteJournalMode,
  busyTimeoutMs: 5000,
  synchronous: "FULL" as SqliteSynchronous,
});

/** Default PostgreSQL port. */
export const POSTGRES_DEFAULT_PORT = 5432;

const USAGE = "use sqlite:///path/to/file.db, sqlite:///:memory: or postgresql://user:pass@host:5432/db";
const MAX_ECHO = 80;
const MAX_DISPLAY = 200;
/** Largest delay a Node timer (and SQLite's busy_timeout, a C int) can hold. */
const MAX_TIMER_MS = 2_147_483_647;

const SQLITE_MODES: readonly SqliteMode[] = ["ro", "rw", "rwc"];
const JOURNAL_MODES: readonly SqliteJournalMode[] = ["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"];
const SYNCHRONOUS: readonly SqliteSynchronous[] = ["OFF", "NORMAL", "FULL", "EXTRA"];
const SSL_MODES: readonly PostgresSslMode[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

const SQLITE_ACCEPTED =
  "accepted SQLite parameters: mode=ro|rw|rwc (default rwc), " +
  "_journal_mode=WAL|DELETE|TRUNCATE|PERSIST|MEMORY|OFF (default WAL), " +
  "_busy_timeout=<milliseconds, integer ≥ 0> (default 5000), " +
  "_synchronous=OFF|NORMAL|FULL|EXTRA (default FULL)";

const POSTGRES_ACCEPTED =
  "accepted PostgreSQL parameters: pool_min_size=<integer ≥ 1>, pool_max_size=<integer ≥ 1>, " +
  "pool_timeout=<seconds > 0>, sslmode=disable|allow|prefer|require|verify-ca|verify-full, " +
  "sslrootcert=<path>, connect_timeout=<whole seconds ≥ 0>, application_name=<text>, " +
  "options=<libpq options, e.g. -c search_path=my_schema>";

/* ------------------------------------------------------------------------------------------------------------ */
/* Masking                                                                                                      */
/* ------------------------------------------------------------------------------------------------------------ */

interface Range {
  start: number;
  end: number;
}

/**
 * Where a password may sit in `url`. Deliberately conservative: for `scheme://user:…@…` everything from the first
 * `:` after `scheme://` up to the LAST `@` of the string is treated as secret, so an unencoded `/`, `?`, `#` or
 * `@` inside a password cannot push part of it outside the masked region. Without an `@`, a `host:port` whose
 * "port" is not a number is treated as `user:password` with the `@host` forgotten. Values of `…password=`
 * parameters (URL query or libpq `key=value` strings) are secret too.
 */
function secretRanges(url: string): Range[] {
  const ranges: Range[] = [];
  const scheme = /^\s*[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url);
  const p0 = scheme ? scheme[0].length : 0;
  const lastAt = url.lastIndexOf("@");
  if (lastAt >= p0) {
    const colon = url.indexOf(":", p0);
    if (colon >= 0 && colon < lastAt) ranges.push({ start: colon + 1, end: lastAt });
  } else if (scheme) {
    const rel = url.slice(p0).search(/[/?#]/);
    const authEnd = rel < 0 ? url.length : p0 + rel;
    const bracket = url.lastIndexOf("]", authEnd - 1);
    const from = bracket >= p0 ? bracket + 1 : p0;
    const first = url.indexOf(":", from);
    const last = url.lastIndexOf(":", authEnd - 1);
    if (first >= 0 && first < authEnd && !/^\d*$/.test(url.slice(last + 1, authEnd))) {
      ranges.push({ start: first + 1, end: authEnd });
    }
  }
  const param = /(^|[?&;\s])([A-Za-z0-9_.-]*password)\s*=\s*/gi;
  for (let m = param.exec(url); m; m = param.exec(url)) {
    const start = m.index + m[0].length;
    let end: number;
    if (url[start] === "'") {
      end = start + 1;
      while (end < url.length && url[end] !== "'") end += url[end] === "\\" ? 2 : 1;
      end = Math.min(end + 1, url.length);
    } else {
      const rel = url.slice(start).search(/[&#\s]/);
      end = rel < 0 ? url.length : start + rel;
    }
    ranges.push({ start, end });
  }
  return ranges.filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
}

/**
 * Replaces the password of a `scheme://user:password@host…` URL with `***`, and the value of any `…password=`
 * parameter too. Works on malformed input (it never parses the URL strictly) and errs on the side of masking
 * too much: if a password contains an unencoded `@`, `/`, `?` or `#`, everything up to the last `@` is masked.
 *
 * @example maskUrl("postgresql://app:s3cret@db:5432/prod") // "postgresql://app:***@db:5432/prod"
 */
export function maskUrl(url: string): string {
  if (typeof url !== "string") return String(url);
  let out = "";
  let pos = 0;
  for (const r of secretRanges(url)) {
    if (r.end <= pos) continue;
    out += url.slice(pos, Math.max(pos, r.start)) + "***";
    pos = r.end;
  }
  return out + url.slice(pos);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The masked, length-bounded form of a URL for error messages. */
function shown(url: string): string {
  return truncate(maskUrl(url), MAX_DISPLAY);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Shared parsing helpers                                                                                       */
/* ------------------------------------------------------------------------------------------------------------ */

/** Builds the errors of one URL and decides what may be quoted back. */
class UrlProblems {
  private readonly ranges: Range[];
  constructor(
    private readonly url: string,
    private readonly label: string,
    private readonly accepted: string,
  ) {
    this.ranges = secretRanges(url);
  }

  /** Throws a ConfigurationError: `invalid <label> URL "<masked>": <problem>[. <accepted>]`. */
  fail(problem: string, listAccepted = false): never {
    throw new ConfigurationError(
      `invalid ${this.label} URL "${shown(this.url)}": ${problem}${listAccepted ? `; ${this.accepted}` : ""}`,
    );
  }

  /** `value` quoted for a message, unless its source text `[start, end)` may be part of a password. */
  quote(value: string, start: number, end: number): string {
    if (this.ranges.some((r) => start < r.end && end > r.start)) return "(value hidden: it may be part of a password)";
    return JSON.stringify(truncate(value, MAX_ECHO));
  }
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** First index of any of `chars` in `s` at or after `from`, or `s.length`. */
function indexOfAny(s: string, chars: string, from: number): number {
  for (let i = from; i < s.length; i++) if (chars.includes(s[i] as string)) return i;
  return s.length;
}

interface RawParam {
  key: string;
  value: string;
  /** Source span of the whole `key=value` segment. */
  start: number;
  end: number;
  /** Source span of the value. */
  valueStart: number;
}

/**
 * Splits `url[qStart, qEnd)` on `&` into percent-decoded parameters (libpq semantics: `+` is not a space).
 * Empty segments are ignored; a missing `=`, bad percent-encoding or a repeated name is an error.
 */
function parseQuery(url: string, qStart: number, qEnd: number, p: UrlProblems): Map<string, RawParam> {
  const params = new Map<string, RawParam>();
  let pos = qStart;
  while (pos <= qEnd) {
    const amp = url.indexOf("&", pos);
    const end = amp < 0 || amp > qEnd ? qEnd : amp;
    const segment = url.slice(pos, end);
    if (segment !== "") {
      const eq = segment.indexOf("=");
      const rawKey = eq < 0 ? segment : segment.slice(0, eq);
      const key = decode(rawKey);
      if (key === undefined) p.fail(`malformed percent-encoding in parameter name ${p.quote(rawKey, pos, pos + rawKey.length)}`);
      if (key === "") p.fail("a parameter has no name (write name=value)", true);
      if (eq < 0) p.fail(`parameter ${p.quote(key, pos, end)} has no value (write name=value)`, true);
      const valueStart = pos + eq + 1;
      const value = decode(url.slice(valueStart, end));
      if (value === undefined) p.fail(`malformed percent-encoding in the value of parameter ${p.quote(key, pos, valueStart)}`);
      if (value.includes("\0")) p.fail(`the value of parameter ${p.quote(key, pos, valueStart)} contains a NUL character`);
      if (params.has(key)) p.fail(`parameter ${p.quote(key, pos, valueStart)} is given more than once`, true);
      params.set(key, { key, value, start: pos, end, valueStart });
    }
    pos = end + 1;
  }
  return params;
}

/** A strict non-negative decimal integer (no sign, exponent, spaces or `0x`). */
function parseWholeNumber(text: string): number | undefined {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Entry point                                                                                                  */
/* ------------------------------------------------------------------------------------------------------------ */

/**
 * Parses and validates a connection URL (SPEC §2.6).
 *
 * SQLite: `sqlite:///workflows.db` and `sqlite://workflows.db` are relative to `process.cwd()`,
 * `sqlite:///./data/wf.db` too, `sqlite:////var/lib/app/wf.db` is absolute (four slashes), `sqlite:///:memory:` and
 * `sqlite://:memory:` are in memory. Parameters `mode`, `_journal_mode`, `_busy_timeout`, `_synchronous`.
 *
 * PostgreSQL: `postgresql://user:pass@host:5432/db` or `postgres://…`; `[::1]` for IPv6 hosts; parameters
 * `pool_min_size`, `pool_max_size`, `pool_timeout`, `sslmode`, `sslrootcert`, `connect_timeout`,
 * `application_name`, `options`.
 *
 * Leading/trailing whitespace is ignored. Creating missing parent folders is left to the SQLite driver.
 *
 * @throws {ConfigurationError} unsupported scheme, malformed URL, unknown/repeated parameter or bad value; the
 *   message lists what is accepted and never contains the password.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (typeof url !== "string") {
    throw new ConfigurationError(`the database URL must be a string, got ${url === null ? "null" : typeof url}: ${USAGE}`);
  }
  const trimmed = url.trim();
  if (/^sqlite:\/\//i.test(trimmed)) return parseSqlite(trimmed);
  if (/^postgres(?:ql)?:\/\//i.test(trimmed)) return parsePostgres(trimmed);
  throw new ConfigurationError(`unsupported database URL "${shown(trimmed)}": ${USAGE}`);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* SQLite                                                                                                       */
/* ------------------------------------------------------------------------------------------------------------ */

function parseSqlite(url: string): SqliteTarget {
  const p: UrlProblems = new UrlProblems(url, "SQLite", SQLITE_ACCEPTED);
  const p0 = "sqlite://".length;
  const pathEnd = indexOfAny(url, "?#", p0);
  const hash = url.indexOf("#", p0);
  if (hash >= 0) p.fail("a '#' fragment is not allowed (write '#' in a file name as %23)");
  const queryEnd = url.length;

  // sqlite:///x → "x" (relative), sqlite:////x → "/x" (absolute), sqlite://x → "x" (relative).
  const rawPath = url.slice(p0, pathEnd).replace(/^\//, "");
  const decoded = decode(rawPath);
  if (decoded === undefined) p.fail("malformed percent-encoding in the file path");
  if (decoded === "") p.fail("the file path is missing (e.g. sqlite:///workflows.db, sqlite:////abs/path.db or sqlite:///:memory:)");
  if (decoded.includes("\0")) p.fail("the file path contains a NUL character");
  if (decoded.endsWith("/")) p.fail("the path names a folder, not a database file (e.g. sqlite:///data/workflows.db)");
  const memory = decoded === ":memory:";

  const params = pathEnd < url.length ? parseQuery(url, pathEnd + 1, queryEnd, p) : new Map<string, RawParam>();
  let mode: SqliteMode = SQLITE_DEFAULTS.mode;
  let journalMode: SqliteJournalMode | undefined;
  let busyTimeoutMs: number = SQLITE_DEFAULTS.busyTimeoutMs;
  let synchronous: SqliteSynchronous = SQLITE_DEFAULTS.synchronous;

  for (const prm of params.values()) {
    const shownValue = p.quote(prm.value, prm.valueStart, prm.end);
    switch (prm.key) {
      case "mode": {
        if (prm.value === "memory") {
          p.fail("mode=memory is not supported: use sqlite:///:memory: for an in-memory database", true);
        }
        if (!(SQLITE_MODES as readonly string[]).includes(prm.value)) {
          p.fail(`mode=${shownValue} is not accepted (use ro, rw or rwc)`, true);
        }
        mode = prm.value as SqliteMode;
        break;
      }
      case "_journal_mode": {
        const v = prm.value.toUpperCase();
        if (!(JOURNAL_MODES as readonly string[]).includes(v)) {
          p.fail(`_journal_mode=${shownValue} is not accepted (use WAL, DELETE, TRUNCATE, PERSIST, MEMORY or OFF)`, true);
        }
        journalMode = v as SqliteJournalMode;
        break;
      }
      case "_busy_timeout": {
        const n = parseWholeNumber(prm.value);
        if (n === undefined || n > MAX_TIMER_MS) {
          p.fail(`_busy_timeout=${shownValue} is not accepted (use a whole number of milliseconds, 0–${MAX_TIMER_MS})`, true);
        }
        busyTimeoutMs = n;
        break;
      }
      case "_synchronous": {
        const v = prm.value.toUpperCase();
        const byNumber = /^[0-3]$/.test(v) ? SYNCHRONOUS[Number(v)] : undefined;
        const resolved = byNumber ?? ((SYNCHRONOUS as readonly string[]).includes(v) ? (v as SqliteSynchronous) : undefined);
        if (resolved === undefined) {
          p.fail(`_synchronous=${shownValue} is not accepted (use OFF, NORMAL, FULL or EXTRA, or 0–3)`, true);
        }
        synchronous = resolved;
        break;
      }
      case "cache":
        p.fail(
          "parameter \"cache\" is not supported: SQLite's shared cache is discouraged by SQLite itself; " +
            "a runner opens its own connection and WAL already lets readers run beside the writer",
          true,
        );
        break;
      default:
        p.fail(`unknown parameter ${p.quote(prm.key, prm.start, prm.valueStart)}`, true);
    }
  }

  if (memory) {
    if (mode === "ro") {
      p.fail(
        "mode=ro cannot be used with :memory: — a new in-memory database is empty and the runner must create its " +
          "tables in it; drop mode=ro, or open a database file read-only",
      );
    }
    if (journalMode !== undefined && journalMode !== "MEMORY" && journalMode !== "OFF") {
      p.fail(`_journal_mode=${journalMode} cannot be used with :memory: (an in-memory database supports MEMORY or OFF)`);
    }
  }
  const target: Omit<SqliteTarget, "display"> = {
    kind: "sqlite",
    path: memory ? ":memory:" : path.resolve(process.cwd(), decoded),
    memory,
    mode,
    journalMode: journalMode ?? (memory ? SQLITE_DEFAULTS.memoryJournalMode : SQLITE_DEFAULTS.journalMode),
    busyTimeoutMs,
    synchronous,
  };
  return { ...target, display: sqliteDisplay(target) };
}

function sqliteDisplay(t: Omit<SqliteTarget, "display">): string {
  const location = t.memory ? "/:memory:" : `/${t.path.replace(/[%?#]/g, (c) => encodeURIComponent(c))}`;
  const params: string[] = [];
  if (t.mode !== SQLITE_DEFAULTS.mode) params.push(`mode=${t.mode}`);
  const defaultJournal = t.memory ? SQLITE_DEFAULTS.memoryJournalMode : SQLITE_DEFAULTS.journalMode;
  if (t.journalMode !== defaultJournal) params.push(`_journal_mode=${t.journalMode}`);
  if (t.busyTimeoutMs !== SQLITE_DEFAULTS.busyTimeoutMs) params.push(`_busy_timeout=${t.busyTimeoutMs}`);
  if (t.synchronous !== SQLITE_DEFAULTS.synchronous) params.push(`_synchronous=${t.synchronous}`);
  return `sqlite://${location}${params.length ? `?${params.join("&")}` : ""}`;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* PostgreSQL                                                                                                   */
/* ------------------------------------------------------------------------------------------------------------ */

/** libpq keywords that are valid in a libpq URL but that cloaca does not take from the query string. */
const LIBPQ_ELSEWHERE = new Map<string, string>(Object.entries({
  host:
    "the host goes in the URL itself (postgresql://user:pass@host:5432/db); Unix-domain sockets (host=/path) are " +
    "not supported, use a TCP host",
  hostaddr: "the host goes in the URL itself (postgresql://user:pass@host:5432/db)",
  port: "the port goes in the URL itself (postgresql://user:pass@host:5432/db)",
  user: "the user goes in the URL itself (postgresql://user:pass@host:5432/db)",
  password: "the password goes in the URL itself (postgresql://user:pass@host:5432/db), percent-encoded",
  dbname: "the database name goes in the URL path (postgresql://user:pass@host:5432/db)",
}));

function defaultUser(): string | undefined {
  const fromEnv = process.env.PGUSER;
  if (fromEnv) return fromEnv;
  try {
    return os.userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

function parsePostgres(url: string): PostgresTarget {
  const label = "PostgreSQL";
  const p: UrlProblems = new UrlProblems(url, label, POSTGRES_ACCEPTED);
  const p0 = url.indexOf("://") + 3;
  const authEnd = indexOfAny(url, "/?#", p0);
  const authority = url.slice(p0, authEnd);
  const atInAuthority = authority.lastIndexOf("@");
  const encodeHint =
    "percent-encode '@', ':', '/', '?' and '#' in the user name and password (%40 %3A %2F %3F %23)";

  if (atInAuthority < 0 && url.indexOf("@", authEnd) >= 0 && authority.includes(":")) {
    const tail = authority.slice(authority.lastIndexOf(":") + 1);
    if (!/^\d*$/.test(tail)) p.fail(`cannot tell where the user name and password end: ${encodeHint}`);
  }
  const hash = url.indexOf("#", authEnd);
  if (hash >= 0) p.fail(`a '#' fragment is not allowed (${encodeHint})`);

  // Path (database) and query.
  let pathStart = -1;
  let pathEnd = authEnd;
  if (url[authEnd] === "/") {
    pathStart = authEnd + 1;
    pathEnd = indexOfAny(url, "?", pathStart);
  }
  const queryStart = url[pathEnd] === "?" ? pathEnd + 1 : -1;

  // User info.
  const userinfoEnd = atInAuthority >= 0 ? p0 + atInAuthority : p0;
  const hostStart = atInAuthority >= 0 ? userinfoEnd + 1 : p0;
  let user: string | undefined;
  let password: string | undefined;
  if (atInAuthority >= 0) {
    const userinfo = url.slice(p0, userinfoEnd);
    const colon = userinfo.indexOf(":");
    const rawUser = colon < 0 ? userinfo : userinfo.slice(0, colon);
    const decodedUser = decode(rawUser);
    if (decodedUser === undefined) p.fail(`malformed percent-encoding in the user name (${encodeHint})`);
    user = decodedUser || undefined;
    if (colon >= 0) {
      const decodedPassword = decode(userinfo.slice(colon + 1));
      if (decodedPassword === undefined) p.fail(`malformed percent-encoding in the password (${encodeHint})`);
      password = decodedPassword || undefined;
    }
    if ((user ?? "").includes("\0") || (password ?? "").includes("\0")) {
      p.fail("the user name or password contains a NUL character");
    }
  }

  // Host and port.
  const hostport = url.slice(hostStart, authEnd);
  let rawHost: string;
  let rawPort = "";
  let portStart = authEnd;
  let ipv6 = false;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) p.fail("the IPv6 host has no closing ']' (write postgresql://user:pass@[::1]:5432/db)");
    rawHost = hostport.slice(1, close);
    const after = hostport.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) {
      p.fail("unexpected text after the IPv6 host (write postgresql://user:pass@[::1]:5432/db)");
    }
    rawPort = after.slice(1);
    portStart = hostStart + close + 2;
    ipv6 = true;
  } else {
    if (hostport.includes(",")) p.fail("several hosts are not supported: give one host");
    const colon = hostport.indexOf(":");
    if (colon >= 0 && hostport.indexOf(":", colon + 1) >= 0) {
      p.fail("an IPv6 host must be written in brackets (postgresql://user:pass@[::1]:5432/db)");
    }
    rawHost = colon < 0 ? hostport : hostport.slice(0, colon);
    rawPort = colon < 0 ? "" : hostport.slice(colon + 1);
    portStart = hostStart + (colon < 0 ? hostport.length : colon + 1);
  }
  const host = decode(rawHost);
  if (host === undefined) p.fail("malformed percent-encoding in the host");
  if (host.startsWith("/")) {
    p.fail("Unix-domain socket hosts are not supported: use a TCP host name or address");
  }
  if (ipv6) {
    if (!/^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?$/.test(host)) {
      p.fail(`${p.quote(host, hostStart, portStart)} is not an IPv6 address`);
    }
  } else if (host !== "" && !/^[A-Za-z0-9._-]+$/.test(host)) {
    p.fail(`host ${p.quote(host, hostStart, portStart)} is not a valid host name or IPv4 address`);
  }
  let port = POSTGRES_DEFAULT_PORT;
  if (rawPort !== "") {
    const n = parseWholeNumber(rawPort);
    if (n === undefined || n < 1 || n > 65535) {
      p.fail(`port ${p.quote(rawPort, portStart, authEnd)} is not accepted (use a number 1–65535; default 5432)`);
    }
    port = n;
  }

  // Database.
  const rawDatabase = pathStart < 0 ? "" : url.slice(pathStart, pathEnd);
  if (rawDatabase.includes("@")) {
    p.fail(`'@' after the host: ${encodeHint}; write '@' in a database name as %40`);
  }
  if (rawDatabase.includes("/")) {
    p.fail(`the database name ${p.quote(rawDatabase, pathStart, pathEnd)} contains '/' (write it as %2F if it is really part of the name)`);
  }
  const database = decode(rawDatabase);
  if (database === undefined) p.fail("malformed percent-encoding in the database name");
  if (database === "") {
    p.fail("the database name is missing: add it after the host, e.g. postgresql://user:pass@host:5432/mydb");
  }
  if (database.includes("\0")) p.fail("the database name contains a NUL character");

  const resolvedUser = user ?? defaultUser();
  if (resolvedUser === undefined) {
    p.fail("the URL names no user and none could be found (PGUSER or the OS user): write postgresql://user:pass@host/db");
  }

  // Parameters.
  const params = queryStart >= 0 ? parseQuery(url, queryStart, url.length, p) : new Map<string, RawParam>();
  const fields: Omit<PostgresTarget, "display" | "kind" | "host" | "port" | "database" | "user" | "password"> = {
    poolMin: undefined,
    poolMax: undefined,
    poolTimeoutMs: undefined,
    sslmode: undefined,
    sslrootcert: undefined,
    connectTimeoutMs: undefined,
    applicationName: undefined,
    options: undefined,
    searchPath: undefined,
  };
  for (const prm of params.values()) {
    const v = prm.value;
    const shownValue = p.quote(v, prm.valueStart, prm.end);
    switch (prm.key) {
      case "pool_min_size":
      case "pool_max_size": {
        const n = parseWholeNumber(v);
        if (n === undefined || n < 1 || n > 100_000) {
          p.fail(`${prm.key}=${shownValue} is not accepted (use a whole number ≥ 1)`, true);
        }
        if (prm.key === "pool_min_size") fields.poolMin = n;
        else fields.poolMax = n;
        break;
      }
      case "pool_timeout": {
        const seconds = /^\d{1,10}(\.\d{1,3})?$/.test(v) ? Number(v) : Number.NaN;
        const ms = Math.round(seconds * 1000);
        if (!(ms >= 1 && ms <= MAX_TIMER_MS)) {
          p.fail(`pool_timeout=${shownValue} is not accepted (use seconds > 0, e.g. 30 or 0.5)`, true);
        }
        fields.poolTimeoutMs = ms;
        break;
      }
      case "sslmode":
        if (!(SSL_MODES as readonly string[]).includes(v)) {
          p.fail(`sslmode=${shownValue} is not accepted (use ${SSL_MODES.join(", ")})`, true);
        }
        fields.sslmode = v as PostgresSslMode;
        break;
      case "sslrootcert":
        if (v === "") p.fail("sslrootcert is empty (give the path of the CA certificate file)", true);
        fields.sslrootcert = v;
        break;
      case "connect_timeout": {
        const n = parseWholeNumber(v);
        if (n === undefined || n * 1000 > MAX_TIMER_MS) {
          p.fail(`connect_timeout=${shownValue} is not accepted (use whole seconds ≥ 0; 0 waits forever)`, true);
        }
        fields.connectTimeoutMs = n === 0 ? undefined : n * 1000;
        break;
      }
      case "application_name":
        fields.applicationName = v === "" ? undefined : v;
        break;
      case "options":
        fields.options = v === "" ? undefined : v;
        fields.searchPath = v === "" ? undefined : searchPathFromOptions(v, (problem) => p.fail(problem));
        break;
      default: {
        const elsewhere = LIBPQ_ELSEWHERE.get(prm.key);
        if (elsewhere !== undefined) p.fail(`parameter "${prm.key}" is not accepted: ${elsewhere}`, true);
        p.fail(`unknown parameter ${p.quote(prm.key, prm.start, prm.valueStart)}`, true);
      }
    }
  }
  if (fields.poolMin !== undefined && fields.poolMax !== undefined && fields.poolMin > fields.poolMax) {
    p.fail(`pool_min_size (${fields.poolMin}) is larger than pool_max_size (${fields.poolMax})`, true);
  }

  const target: Omit<PostgresTarget, "display"> = {
    kind: "postgres",
    host: host === "" ? "localhost" : host,
    port,
    database,
    user: resolvedUser,
    password,
    ...fields,
  };
  return {
    ...target,
    display: buildPostgresUrl(target, {
      user: target.user,
      password: target.password === undefined ? undefined : "***",
      database: target.database,
      options: target.options,
      includePool: true,
    }),
  };
}

/* ------------------------------------------------------------------------------------------------------------ */
/* libpq options strings                                                                                        */
/* ------------------------------------------------------------------------------------------------------------ */

/** Splits a libpq `options` string as the server does: on whitespace, `\` escaping the next character. */
function splitOptions(options: string): string[] {
  const tokens: string[] = [];
  let current = "";
  let inToken = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i] as string;
    if (c === "\\" && i + 1 < options.length) {
      current += options[++i];
      inToken = true;
    } else if (/\s/.test(c)) {
      if (inToken) tokens.push(current);
      current = "";
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) tokens.push(current);
  return tokens;
}

function joinOptions(tokens: readonly string[]): string {
  return tokens.map((t) => t.replace(/[\\\s]/g, (c) => `\\${c}`)).join(" ");
}

interface OptionSetting {
  /** Indexes of the tokens that make up the setting. */
  tokens: number[];
  name: string;
  value: string;
}

/** The `-c name=value`, `-cname=value` and `--name=value` settings of a tokenized options string. */
function optionSettings(tokens: readonly string[], fail: (problem: string) => never): OptionSetting[] {
  const settings: OptionSetting[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    let assignment: string | undefined;
    let used = [i];
    if (token === "-c") {
      const next = tokens[i + 1];
      if (next === undefined) fail("options ends with '-c' but no name=value follows it");
      assignment = next;
      used = [i, i + 1];
      i++;
    } else if (token.startsWith("-c")) {
      assignment = token.slice(2);
    } else if (token.startsWith("--")) {
      assignment = token.slice(2);
    }
    if (assignment === undefined) continue;
    const eq = assignment.indexOf("=");
    if (eq <= 0) continue;
    const name = assignment.slice(0, eq).replace(/-/g, "_").toLowerCase();
    settings.push({ tokens: used, name, value: assignment.slice(eq + 1) });
  }
  return settings;
}

/** First schema of a `search_path` value, resolved as PostgreSQL does (unquoted → lower case). */
function firstSearchPathSchema(value: string, fail: (problem: string) => never): string {
  const text = value.trimStart();
  let schema: string;
  if (text.startsWith('"')) {
    let i = 1;
    schema = "";
    for (;;) {
      if (i >= text.length) fail("the search_path in options has an unclosed double quote");
      const c = text[i] as string;
      if (c === '"') {
        if (text[i + 1] === '"') {
          schema += '"';
          i += 2;
          continue;
        }
        break;
      }
      schema += c;
      i++;
    }
  } else {
    const comma = text.indexOf(",");
    schema = (comma < 0 ? text : text.slice(0, comma)).trim().toLowerCase();
  }
  if (schema === "") fail("the search_path in options is empty: name the schema, e.g. options=-c%20search_path%3Dmy_schema");
  return schema;
}

function searchPathFromOptions(options: string, fail: (problem: string) => never): string | undefined {
  const settings = optionSettings(splitOptions(options), fail).filter((s) => s.name === "search_path");
  const last = settings[settings.length - 1];
  if (last === undefined) {
    if (/search[_-]path/i.test(options)) {
      fail(
        "options mentions search_path but not as '-c search_path=<schema>' or '--search_path=<schema>' " +
          "(in a URL: options=-c%20search_path%3Dmy_schema; '+' is not a space in libpq URLs)",
      );
    }
    return undefined;
  }
  const schema = firstSearchPathSchema(last.value, fail);
  try {
    return validateSchemaName(schema);
  } catch (err) {
    return fail(`the search_path in options is not usable: ${(err as Error).message}`);
  }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Schema names and identifiers                                                                                 */
/* ------------------------------------------------------------------------------------------------------------ */

const SCHEMA_RULE =
  "a schema name must be 1–63 characters of letters, digits and _ (ASCII), start with a letter or _, " +
  "and must not be public, information_schema or start with pg_";

/**
 * Validates a PostgreSQL schema name used for multi-tenancy: `^[A-Za-z_][A-Za-z0-9_]{0,62}$`, and not `public`,
 * `information_schema` or `pg_*` (case-insensitive). Returns the name unchanged. Names are used quoted
 * ({@link quoteIdent}), so `Tenant_A` and `tenant_a` are different schemas.
 *
 * @throws {ConfigurationError} explaining the rule; at most 80 characters of the input are quoted back.
 */
export function validateSchemaName(schema: string): string {
  if (typeof schema !== "string") {
    throw new ConfigurationError(`schema name must be a string, got ${schema === null ? "null" : typeof schema}: ${SCHEMA_RULE}`);
  }
  const quoted = JSON.stringify(truncate(schema, MAX_ECHO));
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new ConfigurationError(`invalid schema name ${quoted}: ${SCHEMA_RULE}`);
  }
  const lower = schema.toLowerCase();
  if (lower === "public" || lower === "information_schema" || lower.startsWith("pg_")) {
    throw new ConfigurationError(`schema name ${quoted} is reserved by PostgreSQL: ${SCHEMA_RULE}`);
  }
  return schema;
}

/**
 * Quotes an SQL identifier for PostgreSQL/SQLite: wraps it in double quotes and doubles inner double quotes.
 *
 * @throws {ConfigurationError} for an empty name or one containing a NUL character.
 */
export function quoteIdent(name: string): string {
  if (typeof name !== "string" || name === "" || name.includes("\0")) {
    throw new ConfigurationError("an SQL identifier must be a non-empty string without NUL characters");
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Building PostgreSQL URLs                                                                                     */
/* ------------------------------------------------------------------------------------------------------------ */

/** `search_path` element text for `schema`: bare when PostgreSQL would not fold it, double-quoted otherwise. */
function searchPathElement(schema: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(schema) ? schema : `"${schema.replace(/"/g, '""')}"`;
}

/** `options` with every search_path setting replaced by `-c search_path=<schema>`. */
function optionsWithSearchPath(options: string | undefined, schema: string): string {
  const tokens = splitOptions(options ?? "");
  const drop = new Set<number>();
  const fail = (problem: string): never => {
    throw new ConfigurationError(`cannot set the search path: ${problem}`);
  };
  for (const s of optionSettings(tokens, fail)) if (s.name === "search_path") s.tokens.forEach((i) => drop.add(i));
  const kept = tokens.filter((_, i) => !drop.has(i));
  return joinOptions([...kept, "-c", `search_path=${searchPathElement(schema)}`]);
}

interface BuildParts {
  user: string;
  password: string | undefined;
  database: string;
  options: string | undefined;
  includePool: boolean;
}

function buildPostgresUrl(t: Omit<PostgresTarget, "display">, parts: BuildParts): string {
  const enc = encodeURIComponent;
  const host = t.host.includes(":") ? `[${t.host.replace(/%/g, "%25")}]` : t.host;
  // encodeURIComponent leaves "*" alone, so the display's "***" stays readable.
  const credentials = enc(parts.user) + (parts.password === undefined ? "" : `:${enc(parts.password)}`);
  const query: string[] = [];
  if (t.sslmode !== undefined) query.push(`sslmode=${t.sslmode}`);
  if (t.sslrootcert !== undefined) query.push(`sslrootcert=${enc(t.sslrootcert)}`);
  if (t.connectTimeoutMs !== undefined) query.push(`connect_timeout=${Math.ceil(t.connectTimeoutMs / 1000)}`);
  if (t.applicationName !== undefined) query.push(`application_name=${enc(t.applicationName)}`);
  if (parts.options !== undefined) query.push(`options=${enc(parts.options)}`);
  if (parts.includePool) {
    if (t.poolMin !== undefined) query.push(`pool_min_size=${t.poolMin}`);
    if (t.poolMax !== undefined) query.push(`pool_max_size=${t.poolMax}`);
    if (t.poolTimeoutMs !== undefined) query.push(`pool_timeout=${t.poolTimeoutMs / 1000}`);
  }
  return `postgresql://${credentials}@${host}:${t.port}/${enc(parts.database)}${query.length ? `?${query.join("&")}` : ""}`;
}

/** Replacements for {@link postgresConnectionString}. */
export interface ConnectionStringOverrides {
  /** User name instead of the target's. */
  user?: string;
  /** Password instead of the target's (an empty string means none). */
  password?: string;
  /** Database instead of the target's. */
  database?: string;
  /** Schema to put first on the search path (`options=-c search_path=<schema>`), replacing any in `options`. */
  searchPath?: string;
  /**
   * Also write `pool_min_size`, `pool_max_size`, `pool_timeout`. Default `false`: those are cloaca's own
   * parameters and libpq (`psql`) rejects URLs that contain them.
   */
  includePoolParameters?: boolean;
}

/**
 * Builds a libpq-compatible `postgresql://` URL from a parsed target, with the password percent-encoded, so that
 * both {@link parseDatabaseUrl} and `psql` accept it. Used to hand tenants their connection string: with
 * `searchPath`, the URL carries `options=-c%20search_path%3D<schema>` (quoted when the name has upper-case letters,
 * so PostgreSQL does not fold it). Pool parameters are left out unless `includePoolParameters` is set.
 *
 * @throws {ConfigurationError} for an invalid `searchPath` or an empty `user`/`database` override.
 */
export function postgresConnectionString(t: PostgresTarget, overrides: ConnectionStringOverrides = {}): string {
  const user = overrides.user ?? t.user;
  const database = overrides.database ?? t.database;
  if (user === "") throw new ConfigurationError("postgresConnectionString: the user name must not be empty");
  if (database === "") throw new ConfigurationError("postgresConnectionString: the database name must not be empty");
  const password = overrides.password !== undefined ? overrides.password || undefined : t.password;
  const options =
    overrides.searchPath !== undefined ? optionsWithSearchPath(t.options, validateSchemaName(overrides.searchPath)) : t.options;
  return buildPostgresUrl(t, { user, password, database, options, includePool: overrides.includePoolParameters === true });
}
