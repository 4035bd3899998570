/**
 * One dedicated, non-pooled connection per server/credentials that LISTENs on every channel its runners
 * need (one channel per schema) and reconnects with backoff when it drops. A lost notification only costs
 * latency: runners also poll as a backstop, and every subscriber is told to look for work after a reconnect.
 */
import pg from "pg";
import type { PostgresTarget } from "../../database-url.js";
import type { Logger } from "../../types.js";
import { quoteIdent } from "../../database-url.js";
import { clientConfig } from "./driver.js";

/** Callbacks of one subscriber. */
export interface Subscriber {
  readonly onPayload: (payload: string) => void;
  readonly onReconnect: () => void;
}

/** Listens on many channels over one connection until every subscriber has left. */
export class PostgresListener {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 100;
  private readonly channels = new Map<string, Set<Subscriber>>();
  /** Channels LISTENed to on the current connection. */
  private readonly listening = new Set<string>();
  private ops: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly target: PostgresTarget,
    private readonly sslmode: string | undefined,
    private readonly logger: Logger,
  ) {}

  /** Subscribes to a channel; resolves once LISTEN is in force. Returns the unsubscribe function. */
  async subscribe(channel: string, subscriber: Subscriber): Promise<() => Promise<void>> {
    let set = this.channels.get(channel);
    const fresh = !set;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(subscriber);
    if (!this.client) await (this.connecting ??= this.connect());
    if (fresh) await this.command(`LISTEN ${quoteIdent(channel)}`, channel, true);
    return async () => {
      const s = this.channels.get(channel);
      if (!s?.delete(subscriber) || s.size) return;
      this.channels.delete(channel);
      await this.command(`UNLISTEN ${quoteIdent(channel)}`, channel, false).catch(() => undefined);
    };
  }

  /** LISTEN/UNLISTEN one at a time (pg allows one query in flight per client), skipping what is already so. */
  private command(sql: string, channel: string, listen: boolean): Promise<void> {
    const run = async () => {
      const client = this.client;
      if (!client || this.listening.has(channel) === listen) return;
      await client.query(sql);
      if (listen) this.listening.add(channel);
      else this.listening.delete(channel);
    };
    const next = this.ops.then(run, run);
    this.ops = next.catch(() => undefined);
    return next;
  }

  /** Number of channels listened to (tests and diagnostics). */
  get channelCount(): number {
    return this.channels.size;
  }

  private async connect(): Promise<void> {
    try {
      const client = new pg.Client(clientConfig(this.target, this.sslmode));
      client.on("notification", (msg) => {
        for (const s of this.channels.get(msg.channel) ?? []) s.onPayload(msg.payload ?? "");
      });
      client.on("error", (err) => this.dropped(client, err));
      client.on("end", () => this.dropped(client, undefined));
      await client.connect();
      this.listening.clear();
      const channels = [...this.channels.keys()];
      for (const channel of channels) await client.query(`LISTEN ${quoteIdent(channel)}`);
      for (const channel of channels) this.listening.add(channel);
      this.client = client;
      this.backoffMs = 100;
    } finally {
      this.connecting = undefined;
    }
  }

  private dropped(client: pg.Client, err: Error | undefined): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    this.listening.clear();
    client.end().catch(() => undefined);
    this.logger.warn({ err: err?.message }, "notification connection lost; reconnecting");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      (this.connecting ??= this.connect()).then(
        () => {
          this.logger.info({}, "notification connection restored");
          // Anything sent while we were away is lost: let every subscriber look for work now.
          for (const set of this.channels.values()) for (const s of set) s.onReconnect();
        },
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.retryTimer.unref();
  }

  /** Simulates a dropped connection (tests): the listener must reconnect on its own. */
  terminateForTest(): void {
    const c = this.client;
    if (c) this.dropped(c, new Error("terminated for test"));
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => undefined);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
