#!/usr/bin/env node
// cloaca-worker <module> [--db URL] [--schema S] [--concurrency N]
// A long-running cloaca runner for scale-out: see src/worker.ts (runWorker, workerMain).
import { workerMain } from "../dist/worker.js";

process.exitCode = await workerMain(process.argv.slice(2), process.env);
