/**
 * Execution ids: UUIDs of version 7 (RFC 9562), which begin with the millisecond they were made in, then
 * 74 random bits. Executions, their tasks and their events are keyed by this id, so ids made close in time
 * sort close together and the indexes on them take new entries at their right edge (a few hot pages), not
 * at a random leaf anywhere in the index, as random (version 4) ids do: on a large table every such insert
 * reads a cold page, and after each checkpoint writes a full image of it to the write-ahead log.
 *
 * The random bytes come from a pool filled 256 ids at a time: `uuid` asks Web Crypto for each id's 16
 * bytes, which costs about 2 µs an id, ten times the rest of the work.
 */
import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

const POOL = 16 * 256;
const pool = new Uint8Array(POOL);
let offset = POOL;

function rng(): Uint8Array {
  if (offset === POOL) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + 16);
  offset += 16;
  return bytes;
}

/** A new execution id: a version 7 UUID for `now` (Unix ms). */
export function newExecutionId(now: number): string {
  return v7({ msecs: now, rng });
}
