#!/usr/bin/env node
// cloaca <command> …: tenant create|remove|list, migrate, worker <module>. See src/cli/main.ts.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2), process.env);
