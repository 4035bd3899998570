/** The peers `npm run bench -- --peers` knows, in the order they run and print. */
import { bullmqPeer } from "./bullmq.js";
import { dbosPeer } from "./dbos.js";
import { graphilePeer } from "./graphile.js";
import { pgBossPeer } from "./pgboss.js";
import type { Peer } from "./types.js";

export const PEERS: readonly Peer[] = [
  graphilePeer(false),
  graphilePeer(true),
  pgBossPeer(),
  pgBossPeer(false), // opt-in: --peers pgboss-poll
  dbosPeer("queue"),
  dbosPeer("direct"),
  bullmqPeer("redis"),
  bullmqPeer("postgres"),
];
