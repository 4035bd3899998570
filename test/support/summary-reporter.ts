/**
 * Prints the run's closing line, alone on a line, as the very last thing vitest
 * writes:  `N passed, N failed, N skipped`  (test cases; `todo` counts as skipped).
 *
 * Failures that have no test case of their own still count as failed so the line
 * never claims a clean run that vitest itself reports as failed:
 *   - a test module whose collection failed (import/syntax error, top-level throw),
 *   - errors attached to a suite (e.g. a failing beforeAll/afterAll hook),
 *   - unhandled errors reported for the run.
 * A test still "pending" at the end (interrupted run) counts as failed.
 *
 * When CLOACA_TEST_SUMMARY_FILE is set (scripts/run-tests.mjs sets it), the counts are
 * also written there as JSON so the wrapper can tell whether vitest got this far. With
 * CLOACA_TEST_SUMMARY_DEFER=1 (PostgreSQL-skipped runs) the wrapper prints the line itself,
 * after its closing banner, so it is still the last line.
 */
import { writeFileSync } from "node:fs";
import type { SerializedError } from "vitest";
import type { Reporter, TestModule, TestRunEndReason } from "vitest/node";

export interface RunSummary {
  passed: number;
  failed: number;
  skipped: number;
  reason: TestRunEndReason;
}

export function summarize(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<SerializedError>,
  reason: TestRunEndReason,
): RunSummary {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const mod of testModules) {
    let moduleFailedTests = 0;
    for (const test of mod.children.allTests()) {
      switch (test.result().state) {
        case "passed":
          passed++;
          break;
        case "skipped":
          skipped++;
          break;
        case "failed":
          failed++;
          moduleFailedTests++;
          break;
        case "pending":
          failed++;
          moduleFailedTests++;
          break;
      }
    }
    // Errors that belong to the module or a suite rather than to a test case.
    if (mod.errors().length > 0 && moduleFailedTests === 0) failed++;
    for (const suite of mod.children.allSuites()) {
      if (suite.errors().length > 0 && ![...suite.children.allTests("failed")].length) failed++;
    }
  }
  failed += unhandledErrors.length;
  return { passed, failed, skipped, reason };
}

export function formatSummary(s: Pick<RunSummary, "passed" | "failed" | "skipped">): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    const summary = summarize(testModules, unhandledErrors, reason);
    const file = process.env.CLOACA_TEST_SUMMARY_FILE;
    if (file) {
      try {
        writeFileSync(file, JSON.stringify(summary));
      } catch {
        // The printed line below is what matters; the file is only a hint for the wrapper.
      }
    }
    if (file && process.env.CLOACA_TEST_SUMMARY_DEFER === "1") return;
    process.stdout.write(`\n${formatSummary(summary)}\n`);
  }
}
