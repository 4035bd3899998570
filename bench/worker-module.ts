/** The module the scale-out benchmark's worker processes load: the `parallel` workload's workflow. */
import { WORKLOADS } from "./workloads.js";

export const workflows = [WORKLOADS.parallel.workflow];
