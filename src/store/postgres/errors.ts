/** Maps node-postgres errors to cloaca errors with the plain phrases users branch on. */
import { CloacaError, DatabaseConnectionError, DatabaseError } from "../../errors.js";

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH"]);

/** True for errors worth retrying a whole transaction for (deadlock, serialization failure). */
export function isRetryableTransactionError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "40P01" || code === "40001";
}

/** Translates a `pg` error; `where` is the masked URL for the message. */
export function mapPostgresError(err: unknown, where: string): CloacaError {
  if (err instanceof CloacaError) return err;
  const e = err as { code?: string; message?: string };
  const code = e.code ?? "";
  const message = e.message ?? String(err);
  const conn = (text: string) => new DatabaseConnectionError(`${text} (${where})`, { cause: err });
  if (code === "ECONNREFUSED") return conn(`connection refused: PostgreSQL is not accepting connections`);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return conn(`could not resolve host: ${message}`);
  if (code === "28P01") return conn(`authentication failed: wrong password for the user`);
  if (code === "28000") return conn(`authentication failed: ${message}`);
  // The server asked for a password and there is none (pg's own wording; libpq says "no password supplied").
  if (/client password must be a string|password must be a string/i.test(message)) {
    return conn(`authentication failed: the server asks for a password and the URL gives none`);
  }
  if (code === "3D000") return conn(`database does not exist: ${message}`);
  if (code === "53300") return conn(`too many connections: ${message}`);
  if (code === "57P03") return conn(`the server is starting up or shutting down: ${message}`);
  if (/timeout|timed out/i.test(message)) return conn(`connection timeout: ${message}`);
  if (/does not support SSL/i.test(message)) return conn(`the server does not support SSL connections (sslmode)`);
  if (CONNECTION_CODES.has(code) || /Connection terminated/i.test(message)) return conn(`connection lost: ${message}`);
  return new DatabaseError(`PostgreSQL error${code ? ` ${code}` : ""}: ${message}`, { cause: err });
}
