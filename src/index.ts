/**
 * cloaca — embedded, durable DAG workflow orchestration for TypeScript on SQLite and PostgreSQL.
 * This file is the public API (SPEC §2): everything a user may import, and nothing else.
 */
export { DefaultRunner } from "./engine/runner.js";
export type { RunnerOptions, ListExecutionsOptions, StartOptions, ShutdownOptions } from "./engine/runner.js";
export { WorkflowExecution } from "./engine/workflow-execution.js";
export { runWorker, type WorkerOptions } from "./worker.js";
export type { WorkflowResult, ExecutionSnapshot, ExecutionSummary, TaskResult } from "./engine/results.js";
export type { RunnerEvents, RunnerEventName } from "./engine/events.js";
export type { EventRecord } from "./store/store.js";

export { WorkflowBuilder } from "./workflow/builder.js";
export { Workflow } from "./workflow/workflow.js";
export { WorkflowRegistry, defaultRegistry } from "./workflow/registry.js";
export { Context } from "./workflow/context.js";
export { rules } from "./workflow/rules.js";
export type { TriggerRule, ContextOperator } from "./workflow/rules.js";
export type { RetryPolicy, RetryOn } from "./workflow/retry.js";
export type { TaskFn, TaskHandle, TaskOptions, TaskDefinition } from "./workflow/task.js";

export { DatabaseAdmin } from "./tenancy/admin.js";
export type { TenantInfo } from "./tenancy/admin.js";
export { TenantConfig, TenantCredentials } from "./tenancy/tenant.js";
export type { TenantConfigInit } from "./tenancy/tenant.js";
export type { DefaultRunnerConfig } from "./config.js";
export { maskUrl } from "./database-url.js";

export {
  CloacaError,
  ConfigurationError,
  DatabaseConnectionError,
  DatabaseError,
  WorkflowValidationError,
  WorkflowNotFoundError,
  ExecutionNotFoundError,
  ContextError,
  CronExpressionError,
  TenantError,
  TaskTimeoutError,
  ExecutionTimeoutError,
  RunnerStateError,
} from "./errors.js";
export type { CloacaErrorCode } from "./errors.js";
export type { JsonValue, JsonObject, TaskStatus, ExecutionStatus, TerminalExecutionStatus, Logger } from "./types.js";
