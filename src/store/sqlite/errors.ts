/** Maps better-sqlite3 errors to cloaca errors with plain-language messages. */
import { CloacaError, DatabaseConnectionError, DatabaseError } from "../../errors.js";

/** Translates a SQLite error; `where` is the masked database name for the message. */
export function mapSqliteError(err: unknown, where: string): CloacaError {
  if (err instanceof CloacaError) return err;
  const code = (err as { code?: string }).code ?? "";
  const message = err instanceof Error ? err.message : String(err);
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new DatabaseConnectionError(
      `database is locked: ${where} is held by another connection longer than the busy timeout ` +
        `(raise _busy_timeout, keep other writers' transactions short, or use _journal_mode=WAL)`,
      { cause: err },
    );
  }
  // better-sqlite3 checks the folder itself and throws a plain TypeError without a SQLite code.
  if (code.startsWith("SQLITE_CANTOPEN") || /Cannot open database because the directory does not exist/.test(message)) {
    return new DatabaseConnectionError(
      `unable to open database file ${where}: the file or its folder does not exist or is not accessible (${message})`,
      { cause: err },
    );
  }
  if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
    return new DatabaseConnectionError(`${where} is not a usable SQLite database: ${message}`, { cause: err });
  }
  if (code.startsWith("SQLITE_READONLY")) {
    return new DatabaseError(`${where} is read-only: ${message}`, { cause: err });
  }
  return new DatabaseError(`SQLite error on ${where}: ${message}`, { cause: err });
}
