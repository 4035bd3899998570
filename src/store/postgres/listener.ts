/**
 * A dedicated, non-pooled connection that LISTENs on the store's channel and reconnects with backoff
 * when it drops. A lost notification only costs latency: the runner also polls as a backstop.
 */
import pg from "pg";
import type { PostgresTarget } from "../../database-url.js";
import type { Logger } from "../../types.js";
import { quoteIdent } from "../../database-url.js";
import { clientConfig } from "./driver.js";

/** Listens on one channel until closed. */
export class PostgresListener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 100;

  constructor(
    private readonly target: PostgresTarget,
    private readonly sslmode: string | undefined,
    private readonly channel: string,
    private readonly onPayload: (payload: string) => void,
    private readonly onReconnect: () => void,
    private readonly logger: Logger,
  ) {}

  /** Connects and starts listening; resolves once LISTEN is in force. */
  async start(): Promise<void> {
    const client = new pg.Client(clientConfig(this.target, this.sslmode));
    client.on("notification", (msg) => this.onPayload(msg.payload ?? ""));
    client.on("error", (err) => this.dropped(client, err));
    client.on("end", () => this.dropped(client, undefined));
    await client.connect();
    await client.query(`LISTEN ${quoteIdent(this.channel)}`);
    this.client = client;
    this.backoffMs = 100;
  }

  private dropped(client: pg.Client, err: Error | undefined): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.logger.warn({ err: err?.message, channel: this.channel }, "notification connection lost; reconnecting");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.start().then(
        () => {
          this.logger.info({ channel: this.channel }, "notification connection restored");
          // Anything sent while we were away is lost: let the runner look for work now.
          this.onReconnect();
        },
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.retryTimer.unref();
  }

  /** Simulates a dropped connection (tests): the listener must reconnect on its own. */
  async terminateForTest(): Promise<void> {
    const c = this.client;
    if (c) this.dropped(c, new Error("terminated for test"));
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
