/**
 * Numbered schema migrations, one list per dialect. Never edit a landed migration: append a new one.
 * `{p}` stands for the table prefix (`"schema".` on PostgreSQL, empty on SQLite).
 */

/** One migration: a version number, a name and its statements. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/** Column types that differ between the dialects. */
interface TypeNames {
  readonly bigint: string;
  readonly serial: string;
  /** An SQL expression for 32 random hex characters from a strong source. */
  readonly token: string;
}

function coreTables(t: TypeNames): string[] {
  return [
    `CREATE TABLE {p}cloaca_runners (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      hostname TEXT NOT NULL,
      pid INTEGER NOT NULL,
      started_at ${t.bigint} NOT NULL,
      heartbeat_at ${t.bigint} NOT NULL,
      stale_after_ms ${t.bigint} NOT NULL
    )`,
    `CREATE TABLE {p}cloaca_executions (
      id TEXT PRIMARY KEY,
      workflow_name TEXT NOT NULL,
      workflow_version TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('Running','Paused','Completed','Failed','Cancelled')),
      input_context TEXT NOT NULL,
      final_context TEXT,
      error_message TEXT,
      pause_reason TEXT,
      unfinished_tasks INTEGER NOT NULL,
      failed_tasks INTEGER NOT NULL DEFAULT 0,
      origin TEXT,
      created_at ${t.bigint} NOT NULL,
      completed_at ${t.bigint}
    )`,
    `CREATE INDEX {i}cloaca_executions_status ON {p}cloaca_executions (status, created_at)`,
    `CREATE INDEX {i}cloaca_executions_workflow ON {p}cloaca_executions (workflow_name, created_at)`,
    `CREATE INDEX {i}cloaca_executions_created ON {p}cloaca_executions (created_at)`,
    `CREATE TABLE {p}cloaca_tasks (
      execution_id TEXT NOT NULL REFERENCES {p}cloaca_executions (id) ON DELETE CASCADE,
      task_id TEXT NOT NULL,
      workflow_name TEXT NOT NULL,
      position INTEGER NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('NotStarted','Ready','Running','Completed','Failed','Skipped')),
      deps_remaining INTEGER NOT NULL,
      upstream_failed INTEGER NOT NULL DEFAULT 0,
      upstream_skipped INTEGER NOT NULL DEFAULT 0,
      attempt INTEGER NOT NULL DEFAULT 0,
      max_attempts INTEGER NOT NULL,
      ready_at ${t.bigint},
      claimed_by TEXT,
      recoveries INTEGER NOT NULL DEFAULT 0,
      started_at ${t.bigint},
      completed_at ${t.bigint},
      output_context TEXT,
      error_message TEXT,
      skip_reason TEXT,
      PRIMARY KEY (execution_id, task_id)
    )`,
    // The claim scans only Ready rows in due order; running rows are found by owner for takeover.
    `CREATE INDEX {i}cloaca_tasks_ready ON {p}cloaca_tasks (ready_at) WHERE status = 'Ready'`,
    `CREATE INDEX {i}cloaca_tasks_claimed ON {p}cloaca_tasks (claimed_by) WHERE claimed_by IS NOT NULL`,
    `CREATE TABLE {p}cloaca_events (
      seq ${t.serial},
      execution_id TEXT NOT NULL,
      task_id TEXT,
      event_type TEXT NOT NULL,
      data TEXT,
      runner_id TEXT,
      created_at ${t.bigint} NOT NULL
    )`,
    `CREATE INDEX {i}cloaca_events_execution ON {p}cloaca_events (execution_id, seq)`,
    `CREATE INDEX {i}cloaca_events_created ON {p}cloaca_events (created_at)`,
    // Per-schema facts. `channel` names the NOTIFY channel: PostgreSQL checks no privileges on LISTEN and
    // NOTIFY, so a channel derived from the schema name would let one tenant listen to (or wake) another;
    // a random token readable only inside the schema keeps them apart.
    `CREATE TABLE {p}cloaca_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    `INSERT INTO {p}cloaca_meta (key, value) VALUES ('channel', ${t.token})`,
  ];
}

/** SQLite migrations. */
export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: "core tables",
    statements: coreTables({ bigint: "INTEGER", serial: "INTEGER PRIMARY KEY AUTOINCREMENT", token: "lower(hex(randomblob(16)))" }),
  },
  {
    version: 2,
    name: "fewer pages per commit",
    statements: [
      // Every commit writes each page it changed to the WAL and syncs it: an outcome's commit wrote 7–13
      // pages where a one-row insert writes one, and after an idle pause each page costs about 0.015 ms.
      // Two of them served nothing the engine needs. The executions' status index changed with every start
      // and finish (listing by status walks the created_at index, as on PostgreSQL since its migration 2).
      `DROP INDEX cloaca_executions_status`,
      // AUTOINCREMENT made every event insert update sqlite_sequence (one more page per commit); it only
      // keeps SQLite from reusing the sequence numbers of the newest rows once they are deleted. A plain
      // INTEGER PRIMARY KEY still gives each new event a higher seq than every event in the table, so an
      // execution's log stays in order. The table is rebuilt (SQLite cannot drop AUTOINCREMENT in place).
      `CREATE TABLE cloaca_events_v2 (
        seq INTEGER PRIMARY KEY,
        execution_id TEXT NOT NULL,
        task_id TEXT,
        event_type TEXT NOT NULL,
        data TEXT,
        runner_id TEXT,
        created_at INTEGER NOT NULL
      )`,
      `INSERT INTO cloaca_events_v2 (seq, execution_id, task_id, event_type, data, runner_id, created_at) ` +
        `SELECT seq, execution_id, task_id, event_type, data, runner_id, created_at FROM cloaca_events`,
      `DROP TABLE cloaca_events`,
      `ALTER TABLE cloaca_events_v2 RENAME TO cloaca_events`,
      `CREATE INDEX cloaca_events_execution ON cloaca_events (execution_id, seq)`,
      `CREATE INDEX cloaca_events_created ON cloaca_events (created_at)`,
    ],
  },
];

/** PostgreSQL migrations. */
export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: "core tables",
    statements: coreTables({
      bigint: "BIGINT",
      serial: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
      token: "replace(gen_random_uuid()::text, '-', '')",
    }),
  },
  {
    version: 2,
    name: "fewer index entries per write",
    statements: [
      // An update that changes no indexed column is a HOT update: it writes no index entry, if its page has
      // room. The executions' status index made every update of an execution (a counter per outcome, the
      // finish) write an entry into each of its four indexes; listing by status now walks the created_at
      // index, and the free quarter of each page keeps the new versions beside the old ones.
      `DROP INDEX {p}cloaca_executions_status`,
      `ALTER TABLE {p}cloaca_executions SET (fillfactor = 75)`,
      // Events are read by execution (in seq order) and deleted by age: the sequence needs no index of its
      // own, and rows are appended in time order, so a BRIN index (a few pages, almost nothing per insert)
      // finds the old ones.
      `ALTER TABLE {p}cloaca_events DROP CONSTRAINT cloaca_events_pkey`,
      `DROP INDEX {p}cloaca_events_created`,
      `CREATE INDEX {i}cloaca_events_created ON {p}cloaca_events USING brin (created_at)`,
    ],
  },
  {
    version: 3,
    name: "keys compared byte by byte",
    statements: [
      // Ids, task ids, workflow names, statuses and owners are only ever compared for equality (and ids
      // for a tie-break order): none needs the database's linguistic collation. Under any collation but
      // "C"/"POSIX" (en_US.UTF-8, and C.UTF-8 too before PostgreSQL 17) every comparison of them, in every
      // index lookup, goes through strcoll on null-terminated copies; "C" compares the bytes. It also
      // orders ids as SQLite does. Changing only the collation rewrites no table, but rebuilds the indexes
      // on these columns (the tables are locked meanwhile).
      `ALTER TABLE {p}cloaca_runners ALTER COLUMN id TYPE TEXT COLLATE "C"`,
      `ALTER TABLE {p}cloaca_executions ALTER COLUMN id TYPE TEXT COLLATE "C", ` +
        `ALTER COLUMN workflow_name TYPE TEXT COLLATE "C", ALTER COLUMN status TYPE TEXT COLLATE "C"`,
      `ALTER TABLE {p}cloaca_tasks ALTER COLUMN execution_id TYPE TEXT COLLATE "C", ` +
        `ALTER COLUMN task_id TYPE TEXT COLLATE "C", ALTER COLUMN workflow_name TYPE TEXT COLLATE "C", ` +
        `ALTER COLUMN status TYPE TEXT COLLATE "C", ALTER COLUMN claimed_by TYPE TEXT COLLATE "C"`,
      `ALTER TABLE {p}cloaca_events ALTER COLUMN execution_id TYPE TEXT COLLATE "C", ALTER COLUMN task_id TYPE TEXT COLLATE "C"`,
    ],
  },
  {
    version: 4,
    name: "room for the executions' new versions",
    statements: [
      // An execution row gets a new version for every outcome counted against it and one more, wider (the
      // final context), when it ends; an update is HOT (no index entry) only if the new version fits on its
      // page. With a quarter of each page free, 58% of the finishing updates of `simple` still wrote an entry
      // into each of the table's three indexes (pg_stat_user_tables); with half free, most fit. It applies to
      // pages filled from now on.
      `ALTER TABLE {p}cloaca_executions SET (fillfactor = 50)`,
    ],
  },
  {
    version: 5,
    name: "tasks kept with their execution by the engine",
    statements: [
      // The foreign key from tasks to executions ran its check for every task inserted: a query through
      // the executions' key (by SPI, in a trigger) that also takes a key-share lock on the execution row.
      // The engine keeps the two together itself: a task row is only ever inserted in the statement that
      // inserts its execution, and retention deletes an execution's tasks in the transaction that deletes
      // it (SqlStore.cleanupExecutions), which is all the cascade did. A task row whose execution is gone
      // would never be claimed: every claim looks the execution up and wants it Running.
      `ALTER TABLE {p}cloaca_tasks DROP CONSTRAINT cloaca_tasks_execution_id_fkey`,
    ],
  },
];

/** Fills in the table prefix. Index names are never schema-qualified (they live beside their table). */
export function renderMigration(sql: string, prefix: string): string {
  return sql.replaceAll("{p}", prefix).replaceAll("{i}", "");
}
