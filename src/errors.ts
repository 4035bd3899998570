/**
 * The error hierarchy of cloaca. Every error the library throws on purpose is a {@link CloacaError}
 * with a stable string `code` (safe to switch on) and, where another error caused it, `cause`.
 * Messages never contain passwords: connection strings are masked before they are put in a message.
 */

/** Stable error codes, one per subclass. */
export type CloacaErrorCode =
  | "CONFIGURATION"
  | "DATABASE_CONNECTION"
  | "DATABASE"
  | "WORKFLOW_VALIDATION"
  | "WORKFLOW_NOT_FOUND"
  | "EXECUTION_NOT_FOUND"
  | "CONTEXT"
  | "CRON_EXPRESSION"
  | "TENANT"
  | "TASK_TIMEOUT"
  | "EXECUTION_TIMEOUT"
  | "RUNNER_STATE";

/** Base class of every error cloaca throws on purpose. */
export class CloacaError extends Error {
  /** Stable machine-readable code; never changes between versions for the same condition. */
  readonly code: CloacaErrorCode;
  constructor(code: CloacaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration value, URL or option is invalid. The message says what is accepted. */
export class ConfigurationError extends CloacaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIGURATION", message, options);
  }
}

/**
 * The database could not be reached or opened. The message contains one of the plain phrases
 * `connection refused`, `authentication failed`, `database does not exist`, `database is locked`,
 * `timeout`, so callers can branch on `String(err)`.
 */
export class DatabaseConnectionError extends CloacaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("DATABASE_CONNECTION", message, options);
  }
}

/** A database operation failed after the connection was established. */
export class DatabaseError extends CloacaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("DATABASE", message, options);
  }
}

/** A workflow definition is invalid (empty, duplicate id, unknown dependency, cycle, bad option). */
export class WorkflowValidationError extends CloacaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WORKFLOW_VALIDATION", message, options);
  }
}

/** No workflow with that name is registered on the runner. */
export class WorkflowNotFoundError extends CloacaError {
  /** The name that was asked for. */
  readonly workflowName: string;
  constructor(workflowName: string, known: readonly string[] = []) {
    super(
      "WORKFLOW_NOT_FOUND",
      `workflow "${workflowName}" is not registered` +
        (known.length ? ` (registered: ${known.join(", ")})` : " (no workflows are registered)"),
    );
    this.workflowName = workflowName;
  }
}

/** No execution with that id exists in this database (or tenant schema). */
export class ExecutionNotFoundError extends CloacaError {
  /** The id that was asked for. */
  readonly executionId: string;
  constructor(executionId: string) {
    super("EXECUTION_NOT_FOUND", `execution "${executionId}" does not exist`);
    this.executionId = executionId;
  }
}

/** A context operation failed: a value that is not JSON, `insert` of a present key, `update` of an absent one. */
export class ContextError extends CloacaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONTEXT", message, options);
  }
}

/** A cron expression or time zone is invalid. */
export class CronExpressionError extends CloacaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CRON_EXPRESSION", message, options);
  }
}

/** A tenant operation (create, remove, list) failed. */
export class TenantError extends CloacaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TENANT", message, options);
  }
}

/** A task attempt ran longer than its `timeoutMs`; its `handle.signal` was aborted. */
export class TaskTimeoutError extends CloacaError {
  constructor(taskId: string, timeoutMs: number) {
    super("TASK_TIMEOUT", `task "${taskId}" timed out after ${timeoutMs} ms`);
  }
}

/** Waiting for an execution took longer than the allowed time. The execution itself keeps running. */
export class ExecutionTimeoutError extends CloacaError {
  constructor(executionId: string, timeoutMs: number) {
    super(
      "EXECUTION_TIMEOUT",
      `execution ${executionId} did not finish within ${timeoutMs} ms timeout (it keeps running; wait again or cancel it)`,
    );
  }
}

/** The runner is not in a state that allows the call (for example it was shut down). */
export class RunnerStateError extends CloacaError {
  constructor(message: string) {
    super("RUNNER_STATE", message);
  }
}
