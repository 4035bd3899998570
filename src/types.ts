/** Shared public types used across the workflow, engine and store layers. */

/** A JSON value: what a {@link Context} may hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** Lifecycle of one task inside an execution. Terminal: `Completed`, `Failed`, `Skipped`. */
export type TaskStatus = "NotStarted" | "Ready" | "Running" | "Completed" | "Failed" | "Skipped";

/** Lifecycle of an execution. Terminal: `Completed`, `Failed`, `Cancelled`. */
export type ExecutionStatus = "Running" | "Paused" | "Completed" | "Failed" | "Cancelled";

/** The terminal statuses an execution can end in. */
export type TerminalExecutionStatus = "Completed" | "Failed" | "Cancelled";

/**
 * A structured logger (pino-shaped). The library never logs to stdout on its own: pass one in
 * `DefaultRunnerConfig.logger` to see what it does.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
