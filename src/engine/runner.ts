/**
 * `DefaultRunner`: the embedded engine facade. It owns one store, a set of concurrency slots, a runner
 * lease, and the loops that claim work, record outcomes, take over dead runners' work and wake waiters.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { configFromEnv, resolveConfig, type DefaultRunnerConfig, type ResolvedConfig } from "../config.js";
import { parseDatabaseUrl, validateSchemaName, type DatabaseTarget } from "../database-url.js";
import {
  ConfigurationError,
  ExecutionNotFoundError,
  ExecutionTimeoutError,
  RunnerStateError,
  WorkflowNotFoundError,
} from "../errors.js";
import { isOneTripRefused, taskKey, type Advance, type ExecutionRows, type SqlStore, type TaskWrite, type WriteSet } from "../store/sql-store.js";
import { openStore, type OpenedStore } from "../store/open-store.js";
import type { ClaimedTask, Driver, Queryable, TaskInputs, TaskKey } from "../store/store.js";
import type { ExecutionStatus, JsonObject, TaskStatus } from "../types.js";
import { Context, mergeOutputs } from "../workflow/context.js";
import { cloneJson } from "../workflow/json.js";
import { defaultRegistry, WorkflowRegistry } from "../workflow/registry.js";
import { retryDelayMs, shouldRetry } from "../workflow/retry.js";
import { evaluateRule } from "../workflow/rules.js";
import type { Workflow } from "../workflow/workflow.js";
import { AbortReason, runAttempt } from "./attempt.js";
import { AttemptAbort } from "./attempt-abort.js";
import { ancestorsOf, diffContext, taskInput, toDelta, type ContextDelta } from "./context-flow.js";
import { newExecutionId } from "./execution-ids.js";
import { oneTripPlan, recordOutcomes, recordOutcomesAtOnce, type OneTripPlan, type Outcome, type OutcomeEffects } from "./completion.js";
import type { RunnerEvents } from "./events.js";
import { isTerminal, toSnapshot, toSummary, type ExecutionSnapshot, type ExecutionSummary, type WorkflowResult } from "./results.js";
import { AHEAD_TTL_MS, BatchSlots, Slots } from "./slots.js";
import { WaitDeadlines } from "./wait-deadlines.js";
import { MAX_BATCH, WriteBatcher, laneOf, type BatchKind } from "./write-batcher.js";
import { InputCache } from "./input-cache.js";
import { ReadyHints } from "./ready-hints.js";
import { finishedPayloads, parseFinished } from "./notifications.js";
import { WorkflowExecution } from "./workflow-execution.js";
import { sweepDeadRunners } from "./recovery.js";

/** Options of the runner constructor beyond {@link DefaultRunnerConfig}. */
export interface RunnerOptions extends DefaultRunnerConfig {
  /** Workflows to register on this runner (besides those in the process-wide default registry). */
  workflows?: readonly Workflow[];
}

/** Filter of {@link DefaultRunner.listExecutions}. */
export interface ListExecutionsOptions {
  /** Only this workflow. */
  workflow?: string;
  /** Only this status. */
  status?: ExecutionStatus;
  /** Page size (default 100, at most 1000). */
  limit?: number;
  /** Rows to skip (default 0). */
  offset?: number;
}

/** Options of {@link DefaultRunner.start}. */
export interface StartOptions {
  /** Free-form origin recorded with the execution (e.g. `cron:<id>`). */
  origin?: string;
}

/** Options of {@link DefaultRunner.shutdown}. */
export interface ShutdownOptions {
  /** How long running tasks may take to finish before they are aborted and handed back (default 30000). */
  timeoutMs?: number;
}

/** New executions: planned into the transaction's write set, so a batch of them costs a few multi-row inserts. */
const PLAN: BatchKind<(ws: WriteSet) => ClaimedTask[], ClaimedTask[]> = {
  fillsWriteSetOnly: true,
  run: async (_tx, ws, plans) => plans.map((plan) => plan(ws)),
};

/** An outcome to record, with the extra slots its batch reserved in its name (given back on rollback). */
interface OutcomeWrite extends Outcome {
  readonly hold: { reserved: number };
}

/** What a batch did for one outcome write: its effects, the slots to free, and claims it took from the queue. */
interface RecordedOutcome {
  readonly effects: OutcomeEffects;
  /** Slots to give back after commit (the batch's unused ones all go to its first write), besides the claim's. */
  readonly release: number;
  /** The claim of Ready work sent with the batch's commit (on its first write only). */
  readonly claim: QueuedClaim | undefined;
}

/** A claim of queued work sent in an outcome batch; settled when the batch has committed. */
interface QueuedClaim {
  readonly rows: Promise<ClaimedTask[]>;
  /** Slots held for it. */
  readonly want: number;
  /** The wake sequence when it was sent. */
  readonly seq: number;
  /** It claimed these hinted keys (fewer found then only means stale hints, not an empty queue). */
  readonly byKey: boolean;
}

/** How many finished results and live execution ids a runner keeps (oldest dropped first; a miss costs one read). */
const RESULTS_CAPACITY = 4_096;
const LIVE_CAPACITY = 100_000;

/** Adds to an insertion-ordered Set or Map, dropping the oldest entry beyond `capacity`. */
function bounded<V>(collection: Set<string> | Map<string, V>, id: string, capacity: number, value?: V): void {
  collection.delete(id);
  if (collection instanceof Map) collection.set(id, value as V);
  else collection.add(id);
  if (collection.size > capacity) collection.delete(collection.keys().next().value!);
}

/** How long an own claim must be seen unattended (by two sweeps) before the sweep hands it back. */
const UNATTENDED_GRACE_MS = 1_000;

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  try {
    return typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/** The epoch-ms cutoff of a cleanup call: `olderThan` is a Date or a non-negative age in ms. */
function cutoff(what: string, options: { olderThan: Date | number } | undefined): number {
  const o = options?.olderThan;
  const before = o instanceof Date ? o.getTime() : typeof o === "number" && o >= 0 ? Date.now() - o : NaN;
  if (!Number.isFinite(before)) throw new ConfigurationError(`${what}: olderThan must be a Date or a non-negative age in milliseconds`);
  return before;
}

function toInput(input: Context | Record<string, unknown> | undefined): JsonObject {
  if (input === undefined) return {};
  if (input instanceof Context) return input.toObject();
  return new Context(input).toObject();
}

interface Running {
  readonly abort: AttemptAbort;
  readonly executionId: string;
}

/**
 * The embedded workflow runner. All state lives in the database named by the URL (SQLite by default,
 * PostgreSQL for production and scale-out); every runner pointed at the same database shares the work.
 *
 * ```ts
 * const runner = await DefaultRunner.connect("sqlite:///workflows.db");
 * const result = await runner.execute("etl", { day: "2026-11-26" });
 * await runner.shutdown();
 * ```
 */
export class DefaultRunner {
  /** This runner's unique id (its lease row and claim owner). */
  readonly runnerId: string = randomUUID();
  /** The validated configuration in force. */
  readonly config: ResolvedConfig;
  /** The database URL with its password masked. */
  readonly databaseUrl: string;

  readonly #target: DatabaseTarget;
  readonly #schema: string | undefined;
  readonly #registry = new WorkflowRegistry();
  readonly #emitter = new EventEmitter();
  readonly #ready: Promise<void>;
  #opened: OpenedStore | undefined;
  readonly #slots: Slots;
  readonly #running = new Map<string, Running>();
  /** Claims held from the moment they are claimed until their outcome is recorded. */
  readonly #inflight = new Set<string>();
  /** Claims whose outcome's one-round-trip statement was refused: their outcome is written on two trips. */
  readonly #twoTrip = new WeakSet<ClaimedTask>();
  /** Claims whose slot was given back (see #freeSlot). */
  readonly #slotFreed = new WeakSet<ClaimedTask>();
  /** Outcomes submitted and not yet recorded or given up (see #finish). */
  #unrecorded = 0;
  readonly #waiters = new Map<string, Set<() => void>>();
  /** The deadlines of the waits in #waiters. */
  readonly #deadlines = new WaitDeadlines();
  /** Inputs and terminal task states this runner knows, so its own claims can start without a read. */
  readonly #inputs = new InputCache();
  /** Tasks this runner made Ready, claimed by key by its next claims (see ready-hints.ts); none when submit-only. */
  readonly #hints: ReadyHints;
  /** Executions this runner finished while waiters here waited for them: the result as committed, no read needed. */
  readonly #results = new Map<string, ExecutionRows>();
  /** Executions started here and not yet seen to finish: a first wait for one needs no status read. */
  readonly #live = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** One group-commit batcher per write lane (see write-batcher.ts), made on first use. */
  readonly #batchers: WriteBatcher[] = [];
  /**
   * How many write lanes: `writeLanes` on PostgreSQL, by default 2 when the runner has a pool of at least 4
   * connections to itself when it connects (else 1; see #init); 1 on SQLite. Fixed before the first write.
   */
  #lanes = 1;
  /** The PostgreSQL pool size this runner asked for (pool_max_size or dbPoolSize). */
  #poolSize = 0;
  /** The pump's claims, kept on one connection where the driver has several (see Driver.withAffinity). */
  #claimDriver: Driver | undefined;
  #wakeSeq = 0;
  #claimBackoffMs = 0;
  #wantWork = true;
  #pumping = false;
  #pumpAgain = false;
  #stopping = false;
  #shutdown: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  #lastCleanup = 0;
  /** Set once this runner's lease row exists: only then can it hold claims to release at shutdown. */
  #registered = false;
  /** Sweeps started so far, and own claims a sweep saw unattended (not in flight here) → when first seen. */
  #sweepSeq = 0;
  readonly #unattended = new Map<string, { seq: number; at: number }>();

  /**
   * Creates a runner and connects in the background; `ready()` (or any method) waits for it.
   * Bad URLs and configuration throw {@link ConfigurationError} here, synchronously.
   */
  constructor(databaseUrl: string, options: RunnerOptions = {}, internal: { schema?: string } = {}) {
    const { workflows, ...config } = options;
    this.#target = parseDatabaseUrl(databaseUrl);
    this.databaseUrl = this.#target.display;
    this.config = resolveConfig(config);
    this.#hints = new ReadyHints(this.config.maxConcurrentTasks > 0 ? undefined : 0);
    if (this.#target.kind === "postgres") {
      const { poolMin, poolMax } = this.#target;
      if (poolMax !== undefined && config.dbPoolSize !== undefined && config.dbPoolSize !== poolMax) {
        throw new ConfigurationError(
          `the pool size is set twice and differs: pool_max_size=${poolMax} in the URL, dbPoolSize=${config.dbPoolSize} in the config (set one)`,
        );
      }
      const pool = poolMax ?? this.config.dbPoolSize;
      if (poolMin !== undefined && poolMin > pool) {
        throw new ConfigurationError(`pool_min_size=${poolMin} is larger than the pool size ${pool} (pool_max_size or dbPoolSize)`);
      }
      // Each lane holds a connection while it writes; the claims, reads and heartbeats need the rest.
      const lanes = this.config.writeLanes;
      if (lanes !== undefined && lanes > 1 && lanes > Math.floor(pool / 2)) {
        throw new ConfigurationError(
          `writeLanes=${lanes} needs a pool of at least ${2 * lanes} connections (the pool size is ${pool}: pool_max_size or dbPoolSize)`,
        );
      }
      this.#poolSize = pool;
    }
    if (internal.schema !== undefined) {
      if (this.#target.kind !== "postgres") {
        throw new ConfigurationError(
          "multi-tenancy requires PostgreSQL: withSchema() cannot be used with a SQLite URL (use one SQLite file per tenant instead)",
        );
      }
      this.#schema = validateSchemaName(internal.schema);
    }
    for (const wf of workflows ?? []) this.#registry.register(wf);
    this.#slots = new Slots(
      this.config.maxConcurrentTasks,
      () => {
        if (this.#wantWork) this.#schedulePump();
      },
      this.config.claimAhead,
    );
    this.#ready = this.#init();
    this.#ready.catch(() => undefined);
  }

  /** Creates a runner and resolves once it is connected, migrated and working; rejects (and cleans up) if not. */
  static async connect(databaseUrl: string, config?: RunnerOptions): Promise<DefaultRunner> {
    const runner = new DefaultRunner(databaseUrl, config);
    try {
      await runner.ready();
    } catch (err) {
      await runner.shutdown({ timeoutMs: 0 }).catch(() => undefined);
      throw err;
    }
    return runner;
  }

  /** Same as `new DefaultRunner(url, config)`. */
  static withConfig(databaseUrl: string, config: RunnerOptions): DefaultRunner {
    return new DefaultRunner(databaseUrl, config);
  }

  /**
   * A runner whose engine tables live in the PostgreSQL schema `schema` (created and migrated on first
   * use). SQLite URLs are rejected: multi-tenancy requires PostgreSQL.
   */
  static withSchema(databaseUrl: string, schema: string, config?: RunnerOptions): DefaultRunner {
    return new DefaultRunner(databaseUrl, config, { schema });
  }

  /** A runner from `DATABASE_URL` and `CLOACA_*` variables (see the configuration guide). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, extra: RunnerOptions = {}): DefaultRunner {
    const { url, config, schema, unrecognized } = configFromEnv(env);
    const runner = new DefaultRunner(url, { ...config, ...extra }, schema === undefined ? {} : { schema });
    for (const note of unrecognized) runner.config.logger.warn({ variable: note }, "unrecognized CLOACA_* environment variable ignored");
    return runner;
  }

  /** Resolves when the runner is connected and working; rejects with the connection or migration error. */
  ready(): Promise<void> {
    return this.#ready;
  }

  // ------------------------------------------------------------------ registry

  /** Registers a workflow on this runner (replacing one with the same name). */
  register(workflow: Workflow): this {
    this.#registry.register(workflow);
    this.wake();
    return this;
  }

  /** Names of the workflows this runner can run (its own and the process-wide default registry). */
  workflows(): string[] {
    return [...new Set([...this.#registry.names(), ...defaultRegistry.names()])].sort();
  }

  #lookup(name: string): Workflow | undefined {
    return this.#registry.get(name) ?? defaultRegistry.get(name);
  }

  // ------------------------------------------------------------------ events

  /** Listens to a runner event. */
  on<K extends keyof RunnerEvents>(event: K, listener: (payload: RunnerEvents[K]) => void): this {
    this.#emitter.on(event, listener);
    return this;
  }

  /** Listens to one occurrence of a runner event. */
  once<K extends keyof RunnerEvents>(event: K, listener: (payload: RunnerEvents[K]) => void): this {
    this.#emitter.once(event, listener);
    return this;
  }

  /** Removes a listener. */
  off<K extends keyof RunnerEvents>(event: K, listener: (payload: RunnerEvents[K]) => void): this {
    this.#emitter.off(event, listener);
    return this;
  }

  #emit<K extends keyof RunnerEvents>(event: K, payload: RunnerEvents[K]): void {
    try {
      this.#emitter.emit(event, payload);
    } catch (err) {
      this.config.logger.error({ err: errorText(err), event }, "runner event listener threw");
    }
  }

  #report(where: string, error: unknown): void {
    this.config.logger.error({ err: errorText(error), where }, "runner background error");
    this.#emit("runnerError", { error, where });
  }

  // ------------------------------------------------------------------ lifecycle

  async #init(): Promise<void> {
    const logger = this.config.logger;
    const opened = await openStore(this.#target, { schema: this.#schema, poolSize: this.config.dbPoolSize, logger });
    this.#opened = opened;
    // The write lanes, fixed before any write (SQLite keeps one: one writer). By default a second lane only
    // when this runner has the pool to itself (docs/benchmarks.md, session 13): many runners on one pool
    // (tenants by schema) already keep it busy, and there two lanes each measured 0.65–1.19× of one
    // (bench/tenants.ts).
    if (this.#target.kind === "postgres") {
      this.#lanes = this.config.writeLanes ?? (this.#poolSize >= 4 && opened.sharedBy() === 1 ? 2 : 1);
    }
    if (this.#stopping) return;
    try {
      await opened.store.migrate();
      await opened.store.registerRunner(this.runnerId, this.config.runnerName, hostname(), process.pid, this.config.staleClaimThresholdMs);
      this.#registered = true;
      await opened.listen(
        (payload) => this.#onNotification(payload),
        () => this.wake(),
      );
    } catch (err) {
      // A runner that failed to start holds nothing: give its connection (or its share of one) back now.
      if (this.#registered) await opened.store.removeRunner(this.runnerId).catch(() => undefined);
      this.#registered = false;
      this.#opened = undefined;
      await opened.close().catch(() => undefined);
      throw err;
    }
    logger.info(
      { runnerId: this.runnerId, runner: this.config.runnerName, database: this.databaseUrl, schema: opened.schema },
      "runner started",
    );
    // Take over the work of runners that died (on this host: at once) before looking for new work.
    await this.#sweep();
    this.#every(this.config.heartbeatIntervalMs, () => this.#sweep(), false);
    this.#every(this.config.pollIntervalMs, () => this.#backstop(), true);
    this.wake();
  }

  /**
   * @internal Test hook, not public API: the open store, so tests can check what a URL parameter did to the
   * connection (`storeForTests.driver`: on SQLite it also has `pragma(name)`; on PostgreSQL `query` runs on the pool).
   * Throws {@link RunnerStateError} before the runner is connected.
   */
  get storeForTests(): SqlStore {
    return this.#store;
  }

  /** @internal Test hook, not public API: the write lanes in force (see {@link DefaultRunnerConfig.writeLanes}). */
  get writeLanesForTests(): number {
    return this.#lanes;
  }

  /**
   * Outcomes of this runner's attempts, recorded set-based per batch (see completion.ts). The slots its
   * attempts still hold and any free one go first to the batch's successors (the local fast path), then —
   * in the same transaction — to Ready tasks claimed from the queue: the next work is in hand when the
   * batch commits.
   */
  readonly #outcomeKind: BatchKind<OutcomeWrite, RecordedOutcome> = {
    // A batch refused in one round trip (see oneTripPlan) is written again at once, on two.
    retryWhole: (err, outcomes) => {
      if (!isOneTripRefused(err)) return false;
      for (const o of outcomes) this.#twoTrip.add(o.claim);
      return true;
    },
    run: async (tx, ws, outcomes) => {
      const store = this.#store;
      const now = Date.now();
      // Extra slots are held in the first write's name until commit: a rollback gives them back (its reset).
      const own = outcomes.reduce((n, o) => (this.#slotFreed.has(o.claim) ? n : n + 1), 0);
      const slots = new BatchSlots(own, outcomes[0]!.hold, this.#slots, () => this.#stopping, this.#lanes);
      const plan =
        store.capabilities.writableCtes && !outcomes.some((o) => this.#twoTrip.has(o.claim))
          ? oneTripPlan(outcomes, (id, taskIds) => this.#inputs.inputsFor(id, taskIds))
          : undefined;
      if (plan) return this.#recordAtOnce(tx, outcomes, slots, plan, now);
      const all = await recordOutcomes(store, tx, ws, this.runnerId, now, outcomes, () => slots.take());
      slots.used = all.reduce((n, eff) => n + eff.localClaims.length, 0);
      const finished: string[] = [];
      all.forEach((eff, i) => {
        if (eff.lost) return;
        if (eff.readyCount > 0) ws.notifications.add(`r:${this.runnerId}`);
        if (eff.finished) finished.push(outcomes[i]!.claim.executionId);
      });
      for (const payload of finishedPayloads(this.runnerId, finished)) ws.notifications.add(payload);

      // The slots the successors left, and any free one, claim Ready work in the same transaction: by key
      // when this runner knows enough Ready tasks (it made them Ready), else from the Ready index. The claim
      // travels with the write set and the COMMIT, and is read once the batch has committed (the driver
      // settles every statement before COMMIT, and a failed one fails the batch).
      const { claim, want } = this.#claimInBatch(tx, slots, now);
      slots.used += want;
      return all.map((effects, i) => ({ effects, release: i === 0 ? slots.unused : 0, claim: i === 0 ? claim : undefined }));
    },
  };

  /**
   * One round trip for an outcome batch that needs nothing from its own results before it commits (see
   * oneTripPlan): its statement (which also writes its events, finishes its executions and sends its
   * notifications), the claim with every slot its successors were not offered, and COMMIT go out together. The
   * results settle when the statement answers; the batch resolves them once it has committed.
   */
  #recordAtOnce(
    tx: Queryable,
    outcomes: readonly OutcomeWrite[],
    slots: BatchSlots,
    plan: OneTripPlan,
    now: number,
  ): RecordedOutcome[] {
    // Sent in the statement, at commit, whatever it finds: a payload for an execution that did not finish (a
    // claim lost to a takeover) or a task that did not become ready only makes a runner look again. The
    // channel is known: the runner read it to listen before it took any work.
    const notify = (advances: readonly Advance[]) => {
      const payloads = finishedPayloads(this.runnerId, plan.finishes.map((f) => f.executionId));
      if (advances.some((a) => !a.local)) payloads.unshift(`r:${this.runnerId}`);
      return payloads;
    };
    const { effects } = recordOutcomesAtOnce(this.#store, tx, this.runnerId, now, outcomes, () => slots.take(), plan, notify);
    const { claim, want } = this.#claimInBatch(tx, slots, now);
    const settled = effects.then((all) => {
      // The slots offered to successors that did not become ready go back with the batch's other unused ones.
      slots.used = all.reduce((n, eff) => n + eff.localClaims.length, 0) + want;
      return all.map((e, i): RecordedOutcome => ({ effects: e, release: i === 0 ? slots.unused : 0, claim: i === 0 ? claim : undefined }));
    });
    // The batch resolves each write with its promise once the transaction has committed. A failed statement
    // fails the transaction, which reports it (and the batch writes its outcomes again): these are dropped.
    return outcomes.map((_, i) => {
      const one = settled.then((r) => r[i]!);
      one.catch(() => undefined);
      return one as unknown as RecordedOutcome;
    });
  }

  /** Claims Ready work in an outcome batch's transaction with every slot the batch has left (see #outcomeKind). */
  #claimInBatch(tx: Queryable, slots: BatchSlots, now: number): { claim: QueuedClaim | undefined; want: number } {
    const want = this.#wantWork && !this.#stopping ? slots.takeAll() : 0;
    if (want <= 0) return { claim: undefined, want: 0 };
    const { rows, byKey } = this.#claimReady(tx, want, now);
    rows.catch(() => undefined); // its failure fails the transaction, which reports it
    return { claim: { rows, want, seq: this.#wakeSeq, byKey: byKey.length > 0 }, want };
  }

  /** Group commit for an execution's outcomes and its start: the batcher of its write lane (see write-batcher.ts). */
  #writes(executionId: string): WriteBatcher {
    const lane = laneOf(executionId, this.#lanes);
    let batcher = this.#batchers[lane];
    if (!batcher) {
      const store = this.#store;
      // Each lane keeps to one connection too: its statements are planned there once.
      // A lone write goes at once when no other attempt is in flight here: nothing else could join it.
      batcher = new WriteBatcher(store.driver.withAffinity(), (q, ws) => store.flushStatements(q, ws, this.runnerId, Date.now()), {
        flushIsOneStatement: store.flushIsOneStatement,
        mayJoin: () => this.#inflight.size > 1,
      });
      this.#batchers[lane] = batcher;
    }
    return batcher;
  }

  get #store() {
    const o = this.#opened;
    if (!o) throw new RunnerStateError("the runner is not connected");
    return o.store;
  }

  async #whenReady(): Promise<void> {
    if (this.#stopping) throw new RunnerStateError("the runner has been shut down");
    await this.#ready;
  }

  #every(ms: number, fn: () => Promise<void> | void, keepAlive: boolean): void {
    const t = setInterval(() => {
      if (this.#stopping) return;
      Promise.resolve()
        .then(fn)
        .catch((err) => this.#report("timer", err));
    }, ms);
    if (!keepAlive) t.unref();
    this.#timers.add(t);
  }

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  /**
   * Stops claiming, lets running tasks finish (up to `timeoutMs`), then aborts what is left and hands it
   * back to the queue, removes this runner's lease and releases its connections (shared ones close when
   * their last runner lets go). Idempotent.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#shutdown ??= this.#doShutdown(options.timeoutMs ?? 30_000);
    return this.#shutdown;
  }

  /** `await using runner = await DefaultRunner.connect(url)` shuts the runner down at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #doShutdown(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    await this.#ready.catch(() => undefined);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.#inflight.size) {
      const drained = new Promise<void>((resolve) => (this.#drained = resolve));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
      const outcome = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        for (const r of this.#running.values()) r.abort.abort(new AbortReason("shutdown", "the runner is shutting down"));
        await Promise.race([drained, new Promise((r) => setTimeout(r, 1_000))]);
      }
    }
    const opened = this.#opened;
    // A runner whose start failed before it registered (e.g. "database is locked" while migrating) holds no
    // claims: releasing them would only wait out the same lock or outage a second time before connect() rejects.
    if (opened && this.#registered) {
      try {
        // Whatever is still ours goes back to the queue for another runner.
        const store = opened.store;
        for (const claim of await store.claimedBy(this.runnerId)) {
          await store.driver.transaction(async (tx) => {
            // Tell the other runners at once, rather than leaving the task to their backstop poll.
            if (await store.requeue(tx, claim, this.runnerId, Date.now())) await store.notify(tx, `r:${this.runnerId}`);
          });
        }
        await store.removeRunner(this.runnerId);
      } catch (err) {
        this.config.logger.warn({ err: errorText(err) }, "could not release claims at shutdown; they will be taken over after the lease expires");
      }
    }
    if (opened) await opened.close().catch(() => undefined);
    for (const [, set] of this.#waiters) for (const wake of set) wake();
    this.config.logger.info({ runnerId: this.runnerId }, "runner stopped");
  }

  // ------------------------------------------------------------------ starting work

  /** Starts an execution and resolves with its handle once it is durably recorded. */
  async start(workflowName: string, input?: Context | Record<string, unknown>, options: StartOptions = {}): Promise<WorkflowExecution> {
    const json = toInput(input);
    await this.#whenReady();
    const wf = this.#lookup(workflowName);
    if (!wf) throw new WorkflowNotFoundError(workflowName, this.workflows());
    const store = this.#store;
    const now = Date.now();
    const id = newExecutionId(now);
    const rootIds = wf.roots();
    const roots = rootIds.length;
    let reserved = 0;
    let local: ClaimedTask[] = [];
    try {
      local = await this.#writes(id).submit({
        kind: PLAN,
        reset: () => {
          this.#slots.release(reserved);
          reserved = 0;
        },
        input: (ws: WriteSet) => {
          reserved = this.#stopping ? 0 : this.#slots.reserve(roots);
          const claims = store.planExecution(ws, {
            id,
            workflowName: wf.name,
            workflowVersion: wf.version,
            input: json,
            origin: options.origin,
            tasks: wf.tasks.map((t) => ({
              taskId: t.id,
              position: t.position,
              depsCount: t.dependencies.length,
              maxAttempts: t.retry.maxAttempts,
            })),
            now,
            runnerId: this.runnerId,
            localRoots: reserved,
          });
          ws.events.push({ executionId: id, type: "execution_started", data: { workflow: wf.name } });
          if (claims.length < roots) ws.notifications.add(`r:${this.runnerId}`);
          return claims;
        },
      });
    } finally {
      if (local.length < reserved) this.#slots.release(reserved - local.length);
    }
    this.#inputs.started(id, json);
    bounded(this.#live, id, LIVE_CAPACITY);
    this.#emit("executionStarted", { executionId: id, workflowName: wf.name });
    this.#startClaims(local);
    // Roots we had no free slot for are queued; our own NOTIFY is ignored, so look for them ourselves too.
    if (local.length < roots) {
      const claimed = new Set(local.map((c) => c.taskId));
      this.#hints.add(rootIds.filter((t) => !claimed.has(t)).map((taskId) => ({ executionId: id, taskId })));
      this.wake();
    }
    return new WorkflowExecution(this, id, wf.name);
  }

  /**
   * Runs a workflow to the end and returns its result. A task failure is a result (`status: "Failed"`),
   * not a thrown error. Waits at most `workflowTimeoutSeconds` ({@link ExecutionTimeoutError}; the
   * execution keeps running).
   */
  async execute(workflowName: string, input?: Context | Record<string, unknown>, options: StartOptions = {}): Promise<WorkflowResult> {
    const exec = await this.start(workflowName, input, options);
    return exec.wait();
  }

  // ------------------------------------------------------------------ reading and control

  /** The current state of an execution; {@link ExecutionNotFoundError} if there is none. */
  async getExecution(executionId: string): Promise<ExecutionSnapshot> {
    await this.#whenReady();
    const snap = await this.#store.getSnapshot(executionId);
    if (!snap) throw new ExecutionNotFoundError(executionId);
    return toSnapshot(snap.execution, snap.tasks);
  }

  /** Executions, newest first. */
  async listExecutions(options: ListExecutionsOptions = {}): Promise<ExecutionSummary[]> {
    await this.#whenReady();
    const limit = options.limit ?? 100;
    const offset = options.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ConfigurationError("listExecutions: limit must be an integer from 1 to 1000");
    if (!Number.isInteger(offset) || offset < 0) throw new ConfigurationError("listExecutions: offset must be a non-negative integer");
    const statuses: ExecutionStatus[] = ["Running", "Paused", "Completed", "Failed", "Cancelled"];
    if (options.status !== undefined && !statuses.includes(options.status)) {
      throw new ConfigurationError(`listExecutions: unknown status "${String(options.status)}" (accepted: ${statuses.join(", ")})`);
    }
    const rows = await this.#store.listExecutions({ ...options, limit, offset });
    return rows.map(toSummary);
  }

  /** The append-only event log of an execution. */
  async getExecutionEvents(executionId: string) {
    await this.#whenReady();
    return this.#store.events(executionId);
  }

  /** Waits for an execution to be terminal and returns its result. */
  async waitFor(executionId: string, options: { timeoutMs?: number } = {}): Promise<WorkflowResult> {
    await this.#whenReady();
    const timeoutMs = options.timeoutMs ?? this.config.workflowTimeoutSeconds * 1000;
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new ConfigurationError(`wait: timeoutMs must be a finite number of milliseconds ≥ 0 (got ${String(timeoutMs)})`);
    }
    // One deadline for the whole wait; it wakes whichever turn of the loop is waiting (see wait-deadlines.ts).
    let wake!: () => void;
    let expired = false;
    const deadline = this.#deadlines.add(timeoutMs, () => {
      expired = true;
      wake();
    });
    try {
      for (let woken = false; ; ) {
        // Register before looking, so a finish between the look and the wait is not missed.
        const wakeUp = new Promise<void>((resolve) => (wake = resolve));
        const set = this.#waiters.get(executionId) ?? new Set();
        set.add(wake);
        this.#waiters.set(executionId, set);
        try {
          // Finished here: the result as committed. Started here and not seen to finish: nothing to read
          // until something wakes us (a finish here, a notification, or the backstop poll). Otherwise: read.
          const known = this.#results.get(executionId);
          if (known) {
            // The last waiter here takes it; each gets its own copy (a result's context is the caller's to change).
            if (set.size <= 1) this.#results.delete(executionId);
            const execution = { ...known.execution, finalContext: cloneJson(known.execution.finalContext ?? {}) };
            return toSnapshot(execution, known.tasks) as WorkflowResult;
          }
          if (woken || !this.#live.has(executionId)) {
            const snap = await this.#store.getSnapshot(executionId);
            if (!snap) throw new ExecutionNotFoundError(executionId);
            if (isTerminal(snap.execution.status)) return toSnapshot(snap.execution, snap.tasks) as WorkflowResult;
          }
          if (this.#stopping) throw new RunnerStateError(`the runner shut down before execution ${executionId} finished`);
          if (expired) throw new ExecutionTimeoutError(executionId, timeoutMs);
          await wakeUp;
          woken = true;
        } finally {
          set.delete(wake);
          if (!set.size) this.#waiters.delete(executionId);
        }
      }
    } finally {
      this.#deadlines.remove(deadline);
    }
  }

  /** The status of an execution. */
  async status(executionId: string): Promise<ExecutionStatus> {
    await this.#whenReady();
    const s = (await this.#store.statuses([executionId])).get(executionId);
    if (!s) throw new ExecutionNotFoundError(executionId);
    return s;
  }

  /**
   * Cancels an execution: unstarted tasks are skipped, running ones see `handle.signal` abort (on every
   * runner on PostgreSQL, through NOTIFY; on SQLite only on this runner). Returns false when it had already
   * finished.
   */
  async cancel(executionId: string, reason = "cancelled by request"): Promise<boolean> {
    await this.#whenReady();
    const store = this.#store;
    const now = Date.now();
    const done = await store.driver.transaction(async (tx) => {
      if (!(await store.cancel(tx, executionId, reason, now))) return false;
      await store.insertEvents(tx, [{ executionId, type: "execution_cancelled", data: { reason } }], this.runnerId, now);
      await store.notify(tx, `c:${executionId}`);
      return true;
    });
    if (!done) {
      if (!(await store.getExecution(executionId))) throw new ExecutionNotFoundError(executionId);
      return false;
    }
    this.#live.delete(executionId);
    this.#abortExecution(executionId, reason);
    this.#wakeWaiters(executionId);
    const e = await store.getExecution(executionId);
    this.#emit("executionCompleted", { executionId, workflowName: e?.workflowName ?? "", status: "Cancelled" });
    return true;
  }

  /** Pauses an execution: running tasks finish, no new task starts until `resume`. False if it was not running. */
  async pause(executionId: string, reason?: string): Promise<boolean> {
    await this.#whenReady();
    const store = this.#store;
    const ok = await store.driver.transaction(async (tx) => {
      if (!(await store.pause(tx, executionId, reason))) return false;
      await store.insertEvents(tx, [{ executionId, type: "execution_paused", data: reason ? { reason } : undefined }], this.runnerId, Date.now());
      return true;
    });
    if (!ok && !(await store.getExecution(executionId))) throw new ExecutionNotFoundError(executionId);
    return ok;
  }

  /** Resumes a paused execution. False if it was not paused. */
  async resume(executionId: string): Promise<boolean> {
    await this.#whenReady();
    const store = this.#store;
    const ok = await store.driver.transaction(async (tx) => {
      if (!(await store.resume(tx, executionId))) return false;
      await store.insertEvents(tx, [{ executionId, type: "execution_resumed" }], this.runnerId, Date.now());
      await store.notify(tx, `r:${this.runnerId}`);
      return true;
    });
    if (!ok && !(await store.getExecution(executionId))) throw new ExecutionNotFoundError(executionId);
    if (ok) this.wake();
    return ok;
  }

  /** Deletes events older than `olderThan` (a Date, or an age in ms); returns how many were deleted. */
  async cleanupEvents(options: { olderThan: Date | number }): Promise<number> {
    await this.#whenReady();
    return this.#store.cleanupEvents(cutoff("cleanupEvents", options));
  }

  /**
   * Deletes finished executions (Completed, Failed, Cancelled) that ended before `olderThan` (a Date, or an
   * age in ms), with their tasks and events; returns how many executions were deleted. Running and paused
   * executions are never touched.
   */
  async cleanupExecutions(options: { olderThan: Date | number }): Promise<number> {
    await this.#whenReady();
    return this.#store.cleanupExecutions(cutoff("cleanupExecutions", options));
  }

  // ------------------------------------------------------------------ the work loop

  /**
   * Claims up to `want` due Ready tasks through `q` (the pool or a transaction): by key when this runner
   * knows that many it made Ready itself (see ready-hints.ts), else from the queue.
   */
  #claimReady(q: Queryable, want: number, now: number): { rows: Promise<ClaimedTask[]>; byKey: TaskKey[] } {
    const store = this.#store;
    const byKey = this.#hints.size >= want ? this.#hints.take(want) : [];
    if (byKey.length) return { rows: store.claimKeys(q, this.runnerId, byKey, now), byKey };
    // A hinted task taken through the index would leave a stale hint, and a claim by key would come back short.
    const rows = store.claim(q, this.runnerId, want, this.workflows(), now).then((claimed) => {
      this.#hints.forget(claimed);
      return claimed;
    });
    return { rows, byKey };
  }

  /** Asks the runner to look for ready work now (called on notifications; safe to call any time). */
  wake(): void {
    this.#wakeSeq++;
    this.#wantWork = true;
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (this.#stopping || !this.#opened) return;
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    queueMicrotask(() => void this.#pump());
  }

  async #pump(): Promise<void> {
    try {
      while (this.#wantWork && !this.#stopping) {
        const names = this.workflows();
        const wanted = this.#slots.reserve(this.#slots.free);
        if (wanted === 0) break; // a slot coming free calls us again
        const seq = this.#wakeSeq;
        let claims: ClaimedTask[] = [];
        this.#claimDriver ??= this.#store.driver.withAffinity();
        const { rows, byKey } = this.#claimReady(this.#claimDriver, wanted, Date.now());
        try {
          claims = await rows;
        } catch (err) {
          this.#hints.add(byKey);
          // Back off (up to the poll interval) instead of retrying at once on every free slot.
          this.#wantWork = false;
          this.#slots.release(wanted);
          this.#report("claim", err);
          this.#claimBackoffMs = Math.min(Math.max(10, this.#claimBackoffMs * 2), this.config.pollIntervalMs);
          this.#after(this.#claimBackoffMs, () => this.wake());
          break;
        }
        this.#claimBackoffMs = 0;
        if (claims.length < wanted) {
          if (seq === this.#wakeSeq && !byKey.length) this.#wantWork = false;
          this.#slots.release(wanted - claims.length);
        }
        this.#startClaims(claims);
        if (!this.#wantWork) await this.#armDueTimer(names);
      }
    } finally {
      this.#pumping = false;
      if (this.#pumpAgain) {
        this.#pumpAgain = false;
        this.#schedulePump();
      }
    }
  }

  /** Wakes up when the earliest waiting retry falls due, if that is sooner than the backstop poll. */
  async #armDueTimer(names: readonly string[]): Promise<void> {
    const due = await this.#store.nextReadyAt(names).catch(() => undefined);
    if (due === undefined) return;
    const delay = due - Date.now();
    if (delay <= 0) this.wake();
    else if (delay < this.config.pollIntervalMs) this.#after(delay, () => this.wake());
  }

  #backstop(): void {
    this.wake();
    if (this.#waiters.size) {
      void this.#store
        .statuses([...this.#waiters.keys()])
        .then((statuses) => {
          for (const [id, s] of statuses) if (isTerminal(s)) this.#wakeWaiters(id);
        })
        .catch((err) => this.#report("backstop", err));
    }
  }

  #onNotification(payload: string): void {
    const [kind, arg] = [payload.slice(0, 1), payload.slice(2)];
    if (kind === "r" && arg !== this.runnerId) this.wake();
    else if (kind === "d") {
      const finished = parseFinished(payload)!;
      // Our own finishes woke our waiters already (with the result in hand).
      if (finished.runnerId === this.runnerId) return;
      for (const id of finished.executionIds) {
        this.#live.delete(id);
        this.#wakeWaiters(id);
      }
    } else if (kind === "c") {
      this.#live.delete(arg);
      this.#abortExecution(arg, "cancelled");
      this.#wakeWaiters(arg);
    }
  }

  #wakeWaiters(executionId: string): void {
    const set = this.#waiters.get(executionId);
    if (set) for (const wake of set) wake();
  }

  #abortExecution(executionId: string, reason: string): void {
    for (const r of this.#running.values()) {
      if (r.executionId === executionId) r.abort.abort(new AbortReason("cancel", reason));
    }
  }

  /** Starts claimed tasks (their slots are already reserved), reading their inputs only when not known here. */
  #startClaims(claims: readonly ClaimedTask[]): void {
    if (!claims.length) return;
    const unknown: ClaimedTask[] = [];
    for (const c of claims) {
      this.#inflight.add(taskKey(c.executionId, c.taskId));
      const wf = this.#lookup(c.workflowName);
      const known = wf && this.#inputs.inputsFor(c.executionId, ancestorsOf(wf, c.taskId));
      if (known) this.#launch(c, known);
      else unknown.push(c);
    }
    if (!unknown.length) return;
    void this.#store
      .loadInputs(unknown, (c) => {
        const wf = this.#lookup(c.workflowName);
        return wf ? ancestorsOf(wf, c.taskId) : [];
      })
      .then(
        (inputs) => {
          for (const c of unknown) {
            const i = inputs.get(c)!;
            this.#inputs.fill(c.executionId, i);
            this.#launch(c, i);
          }
        },
        async (err) => {
          this.#report("load inputs", err);
          for (const c of unknown) await this.#handBack(c);
        },
      );
  }

  #launch(claim: ClaimedTask, inputs: TaskInputs): void {
    this.#runClaim(claim, inputs).catch(async (err) => {
      // Never leave a claim and its slot stuck on an unexpected error: report it and hand the task back.
      this.#report(`run ${claim.taskId}`, err);
      if (this.#inflight.has(taskKey(claim.executionId, claim.taskId))) await this.#handBack(claim);
    });
  }

  /** Returns a claim we cannot run to the queue and frees its slot (if its outcome did not already). */
  async #handBack(claim: ClaimedTask): Promise<void> {
    const store = this.#store;
    await store.driver
      .transaction((tx) => store.requeue(tx, claim, this.runnerId, Date.now()))
      .catch((err) => this.#report("hand back", err));
    this.#finishInflight(claim);
    this.#freeSlot(claim);
  }

  /**
   * Returns a claim whose body never started (claimed ahead and not started in time, see slots.ts, or
   * reached by a shutdown) to the queue as if it had never been claimed (its attempt given back), logs
   * why, and tells the other runners at once.
   */
  async #release(claim: ClaimedTask, why: string): Promise<void> {
    const store = this.#store;
    const now = Date.now();
    await store.driver
      .transaction(async (tx) => {
        if (!(await store.unclaim(tx, claim, this.runnerId, now))) return false;
        const data = { reason: why };
        await store.insertEvents(tx, [{ executionId: claim.executionId, taskId: claim.taskId, type: "task_released", data }], this.runnerId, now);
        await store.notify(tx, `r:${this.runnerId}`);
        return true;
      })
      .then(
        (released) => {
          if (!released) return;
          this.#emit("taskReleased", { executionId: claim.executionId, taskId: claim.taskId, reason: why });
          // Our own NOTIFY does not reach us: look for it again ourselves, by key, once a slot is free.
          this.#hints.add([{ executionId: claim.executionId, taskId: claim.taskId }]);
        },
        (err) => this.#report("release", err),
      );
    this.#finishInflight(claim);
    this.#freeSlot(claim);
    this.wake();
  }

  /** Gives a claim's slot back, once (its outcome and a hand-back after an unexpected error may both ask). */
  #freeSlot(claim: ClaimedTask): void {
    if (this.#slotFreed.has(claim)) return;
    this.#slotFreed.add(claim);
    this.#slots.release();
  }

  #finishInflight(claim: ClaimedTask): void {
    this.#inflight.delete(taskKey(claim.executionId, claim.taskId));
    if (!this.#inflight.size) this.#drained?.();
  }

  async #runClaim(claim: ClaimedTask, inputs: TaskInputs): Promise<void> {
    const wf = this.#lookup(claim.workflowName);
    const def = wf?.task(claim.taskId);
    if (!wf || !def) {
      const error = wf
        ? `task "${claim.taskId}" is not part of workflow "${claim.workflowName}" as registered on runner ${this.config.runnerName}`
        : `workflow "${claim.workflowName}" is not registered on runner ${this.config.runnerName}`;
      if (wf) await this.#finish(claim, wf, { kind: "failed", error }, undefined);
      else await this.#handBack(claim);
      return;
    }
    const statuses = new Map<string, TaskStatus>();
    for (const dep of def.dependencies) {
      const s = inputs.dependencies.get(dep);
      if (s) statuses.set(dep, s.status);
    }
    const deltas = new Map<string, ContextDelta>();
    for (const [id, s] of inputs.dependencies) if (s.status === "Completed") deltas.set(id, toDelta(s.output));
    const merged = taskInput(wf, def.id, inputs.input, deltas);
    if (def.triggerRule !== undefined) {
      let pass: boolean;
      try {
        pass = evaluateRule(def.triggerRule, { statuses, context: merged });
      } catch (err) {
        await this.#finish(claim, wf, { kind: "failed", error: `trigger rule failed to evaluate: ${errorText(err)}` }, undefined);
        return;
      }
      if (!pass) {
        await this.#finish(claim, wf, { kind: "skipped", reason: "trigger rule not satisfied" }, undefined);
        return;
      }
    }

    const ctx = Context.fromTrustedObject(mergeOutputs(merged, []));
    const abort = new AttemptAbort();
    const k = taskKey(claim.executionId, claim.taskId);
    this.#running.set(k, { abort, executionId: claim.executionId });
    // A task claimed ahead waits for a body permit (see slots.ts); one that waited too long goes back to the
    // queue for any runner. A cancel that reached it meanwhile keeps its body from starting (runAttempt).
    const waited = this.#slots.startBody();
    const how = waited === "run" ? waited : await waited;
    // (A shutdown's abort comes only after #stopping is set.)
    if (how === "expired" || this.#stopping) {
      // Its body never started: it goes back as if it had never been claimed.
      if (how === "run") this.#slots.passBody();
      this.#running.delete(k);
      await this.#release(claim, how === "expired" ? `not started within ${AHEAD_TTL_MS} ms of its claim` : "the runner is shutting down");
      return;
    }
    this.#emit("taskStarted", { executionId: claim.executionId, taskId: claim.taskId, attempt: claim.attempt });
    const started = Date.now();
    // The body's permit goes to the next task as soon as the body ends (a synchronous body: before
    // runAttempt returns, so the next claimed task finds it free), unless the run-ahead bound holds its slot
    // (see #finish): then the permit is held until the outcome is recorded too, so tasks claimed ahead do not
    // run further ahead (and do not expire meanwhile, see Slots.endBody).
    const bodyStart = performance.now();
    let keepSlot = false; // at the run-ahead bound when the body ended: its slot and permit wait for its outcome
    let counted = false; // its outcome is counted in #unrecorded and not yet handed to #finish
    const releaseHeld = () => {
      if (!keepSlot) return;
      keepSlot = false;
      this.#slots.releaseHeld();
    };
    const result = await runAttempt({
      def,
      ctx,
      executionId: claim.executionId,
      attempt: claim.attempt,
      timeoutMs: def.timeoutMs ?? this.config.taskTimeoutSeconds * 1000,
      abort,
      slots: this.#slots,
      defaultPollMs: this.config.pollIntervalMs,
      onEnd: () => {
        // Called once. The outcome counts as unrecorded from the body's end: a task claimed ahead that takes
        // the permit runs before this attempt's continuation, and must see it (see #finish).
        keepSlot = this.#unrecorded >= this.#runAheadBound;
        this.#unrecorded++;
        counted = true;
        this.#slots.endBody(performance.now() - bodyStart, keepSlot);
      },
    });
    this.#running.delete(k);

    let effects: OutcomeEffects | undefined;
    try {
      let write: TaskWrite;
      if (result.ok) {
        const delta = diffContext(merged, ctx.toJSON());
        write = { kind: "completed", output: { set: delta.set, removed: [...delta.removed] } };
      } else if (result.aborted === "shutdown") {
        releaseHeld();
        if (counted) this.#unrecorded--; // no outcome to record: it goes back
        counted = false;
        await this.#handBack(claim);
        return;
      } else {
        const error = errorText(result.error);
        const retry =
          result.aborted !== "cancel" && claim.attempt < claim.maxAttempts && shouldRetry(def.retry, result.error);
        write = retry
          ? { kind: "retry", error, readyAt: Date.now() + retryDelayMs(def.retry, claim.attempt) }
          : { kind: "failed", error };
      }
      const counts = counted;
      counted = false; // #finish takes the count over
      effects = await this.#finish(claim, wf, write, Date.now() - started, counts ? keepSlot : undefined);
    } finally {
      releaseHeld();
      if (counted) this.#unrecorded--;
    }
    if (!effects || effects.lost) return;
    try {
      if (result.ok) await def.onSuccess?.(def.id, ctx.clone());
      else await def.onFailure?.(def.id, result.error, ctx.clone());
    } catch (err) {
      this.#report(`${result.ok ? "onSuccess" : "onFailure"} callback of task ${def.id}`, err);
    }
  }

  /** How many outcomes may wait to be written before finished attempts keep their slots (see #finish). */
  get #runAheadBound(): number {
    return Math.max(this.config.maxConcurrentTasks, MAX_BATCH);
  }

  /**
   * Records an outcome (with retries on database errors), then acts on its effects; frees the attempt's slot.
   * A slot counts a running body: it goes to other work at once, while the outcome waits for its batch's
   * commit (when it was held until then, the runner's C slots went to the database and back in lockstep,
   * nothing ran while a batch was written, and no batch held more than C outcomes). The run-ahead is
   * bounded: while max(C, MAX_BATCH) outcomes already wait, an attempt keeps its slot until its outcome is
   * recorded (its batch then hands it on), so a runner does not claim much faster than it records, and
   * what a crash leaves run but unrecorded (to run again) stays within one full batch.
   */
  async #finish(
    claim: ClaimedTask,
    wf: Workflow,
    write: TaskWrite,
    durationMs: number | undefined,
    /**
     * Set when the outcome was counted as unrecorded at its body's end, where the bound was checked: whether
     * the attempt keeps its slot until the outcome is recorded.
     */
    keepSlot?: boolean,
  ): Promise<OutcomeEffects | undefined> {
    if (!(keepSlot ?? this.#unrecorded >= this.#runAheadBound)) this.#freeSlot(claim);
    if (keepSlot === undefined) this.#unrecorded++;
    const hold = { reserved: 0 };
    let recorded: RecordedOutcome | undefined;
    for (let attempt = 1; attempt <= 5 && !recorded; attempt++) {
      try {
        recorded = await this.#writes(claim.executionId).submit({
          kind: this.#outcomeKind,
          reset: () => {
            this.#slots.release(hold.reserved);
            hold.reserved = 0;
          },
          input: { workflow: wf, claim, write, hold },
        });
      } catch (err) {
        this.#report(`record outcome of ${claim.taskId} (try ${attempt} of 5)`, err);
        if (attempt < 5) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
    }
    this.#unrecorded--;
    this.#finishInflight(claim);
    if (!recorded) {
      this.#freeSlot(claim);
      return undefined; // our own sweep hands the claim back (it is ours and no longer in flight)
    }
    this.#slotFreed.add(claim); // a slot it still held went to its batch (a successor, a claim, or `release`)
    const queued = recorded.claim;
    const claimed = queued ? await queued.rows : [];
    const unclaimed = (queued?.want ?? 0) - claimed.length;
    // The queue had no more than was claimed: stop looking until something wakes us (before freeing slots,
    // which would otherwise start a claim that finds nothing).
    if (queued && unclaimed > 0 && !queued.byKey && queued.seq === this.#wakeSeq) this.#wantWork = false;
    this.#slots.release(recorded.release + unclaimed);
    this.#startClaims(claimed);
    const effects = recorded.effects;
    if (effects.lost) {
      this.config.logger.warn({ executionId: claim.executionId, taskId: claim.taskId }, "claim lost: another runner took this task over; result discarded");
      return effects;
    }
    this.#remember(claim, write, effects);
    this.#emitOutcome(claim, wf, write, effects, durationMs ?? 0);
    this.#startClaims(effects.localClaims);
    this.#hints.add(effects.madeReady);
    if (effects.readyCount > 0) this.wake();
    if (write.kind === "retry") this.#after(Math.max(0, write.readyAt - Date.now()), () => this.wake());
    return effects;
  }

  /** Keeps the committed facts of an outcome: for the inputs of the next claims, and for waiters. */
  #remember(claim: ClaimedTask, write: TaskWrite, effects: OutcomeEffects): void {
    const executionId = claim.executionId;
    if (effects.finished) {
      this.#inputs.forget(executionId);
      this.#live.delete(executionId);
      // Kept only for waiters already here (the usual `execute`); a later `wait` reads the database.
      if (effects.result && this.#waiters.has(executionId)) {
        const { execution, tasks } = effects.result;
        bounded(this.#results, executionId, RESULTS_CAPACITY, { execution, tasks: tasks.map((t) => ({ ...t, output: undefined })) });
      }
      return;
    }
    if (write.kind === "completed") this.#inputs.record(executionId, { taskId: claim.taskId, status: "Completed", output: write.output });
    else if (write.kind === "failed") this.#inputs.record(executionId, { taskId: claim.taskId, status: "Failed", output: undefined });
    else if (write.kind === "skipped") this.#inputs.record(executionId, { taskId: claim.taskId, status: "Skipped", output: undefined });
    for (const s of effects.skipped) this.#inputs.record(executionId, { taskId: s.taskId, status: "Skipped", output: undefined });
  }

  #emitOutcome(claim: ClaimedTask, wf: Workflow, write: TaskWrite, effects: OutcomeEffects, durationMs: number): void {
    const base = { executionId: claim.executionId, taskId: claim.taskId };
    if (write.kind === "completed") this.#emit("taskCompleted", { ...base, attempt: claim.attempt, durationMs });
    else if (write.kind === "failed") this.#emit("taskFailed", { ...base, attempt: claim.attempt, error: write.error });
    else if (write.kind === "retry")
      this.#emit("taskRetrying", { ...base, attempt: claim.attempt, error: write.error, delayMs: Math.max(0, write.readyAt - Date.now()) });
    else this.#emit("taskSkipped", { ...base, reason: write.reason });
    for (const s of effects.skipped) this.#emit("taskSkipped", { executionId: claim.executionId, taskId: s.taskId, reason: s.reason });
    if (effects.finished) {
      this.#emit("executionCompleted", { executionId: claim.executionId, workflowName: wf.name, status: effects.finished });
      this.#wakeWaiters(claim.executionId);
    }
  }

  // ------------------------------------------------------------------ leases and takeover

  async #sweep(): Promise<void> {
    const store = this.#store;
    if (!(await store.heartbeat(this.runnerId))) {
      this.config.logger.warn({ runnerId: this.runnerId }, "this runner's lease had expired and was taken over; re-registering");
      await store.registerRunner(this.runnerId, this.config.runnerName, hostname(), process.pid, this.config.staleClaimThresholdMs);
    }
    // Our own claims that nothing here is working on (an outcome we failed to record) go back to the queue.
    // A claim is visible in the database as soon as its transaction commits, which can be well before this
    // process has read the reply and marked it in flight (the committing backend may not be scheduled for a
    // while on a busy host): one sighting proves nothing. Requeue only a claim already seen unattended by an
    // earlier sweep — one that looked before this sweep's query was sent — and at least a second ago.
    const seq = ++this.#sweepSeq;
    const seen = new Set<string>();
    for (const claim of await store.claimedBy(this.runnerId)) {
      const k = taskKey(claim.executionId, claim.taskId);
      if (this.#inflight.has(k)) continue;
      const sighting = `${k}\u0000${claim.attempt}`;
      seen.add(sighting);
      const first = this.#unattended.get(sighting);
      if (first === undefined) {
        this.#unattended.set(sighting, { seq: this.#sweepSeq, at: Date.now() });
        continue;
      }
      if (first.seq >= seq || Date.now() - first.at < UNATTENDED_GRACE_MS) continue;
      this.#unattended.delete(sighting);
      await store.driver.transaction((tx) => store.requeue(tx, claim, this.runnerId, Date.now()));
      this.wake();
    }
    for (const [sighting, first] of this.#unattended) if (!seen.has(sighting) && first.seq < seq) this.#unattended.delete(sighting);
    if (this.config.enableRecovery) {
      const recovered = await sweepDeadRunners({
        store,
        self: this.runnerId,
        host: hostname(),
        config: this.config,
        lookup: (name) => this.#lookup(name),
        onRecovered: (e) => this.#emit("taskRecovered", e),
        onFinished: (executionId, workflowName, status) => {
          this.#live.delete(executionId);
          this.#emit("executionCompleted", { executionId, workflowName, status });
          this.#wakeWaiters(executionId);
        },
      });
      if (recovered) this.wake();
    }
    const days = this.config.eventRetentionDays;
    if (days !== undefined && Date.now() - this.#lastCleanup > 3_600_000) {
      this.#lastCleanup = Date.now();
      await store.cleanupEvents(Date.now() - days * 86_400_000);
    }
  }
}


