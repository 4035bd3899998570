/** A handle on one execution, returned by `runner.start()`. */
import type { ExecutionStatus } from "../types.js";
import type { WorkflowResult } from "./results.js";

/** The runner operations a handle needs. */
interface ExecutionOwner {
  status(executionId: string): Promise<ExecutionStatus>;
  waitFor(executionId: string, options?: { timeoutMs?: number }): Promise<WorkflowResult>;
  cancel(executionId: string, reason?: string): Promise<boolean>;
  pause(executionId: string, reason?: string): Promise<boolean>;
  resume(executionId: string): Promise<boolean>;
}

/** A started execution. Every method reads or changes the database state; the handle itself holds none. */
export class WorkflowExecution {
  /** @internal */
  constructor(
    private readonly owner: ExecutionOwner,
    /** The execution id. */
    readonly id: string,
    /** The workflow it runs. */
    readonly workflowName: string,
  ) {}

  /** The current status. */
  status(): Promise<ExecutionStatus> {
    return this.owner.status(this.id);
  }

  /**
   * Resolves with the result once the execution is terminal (notified, not polled). Rejects with
   * `ExecutionTimeoutError` after `timeoutMs` (default: the runner's `workflowTimeoutSeconds`).
   */
  wait(options?: { timeoutMs?: number }): Promise<WorkflowResult> {
    return this.owner.waitFor(this.id, options);
  }

  /** Cancels it (false if it had already finished). */
  cancel(reason?: string): Promise<boolean> {
    return this.owner.cancel(this.id, reason);
  }

  /** Pauses it: no new task starts until {@link WorkflowExecution.resume}. */
  pause(reason?: string): Promise<boolean> {
    return this.owner.pause(this.id, reason);
  }

  /** Resumes a paused execution. */
  resume(): Promise<boolean> {
    return this.owner.resume(this.id);
  }
}
