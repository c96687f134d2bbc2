#!/usr/bin/env node
// Summarise a vitest JSON report (reporters: [['json', { outputFile }]]) and gate CI on it.
//
// Usage: node scripts/test-summary.mjs [LABEL=]<vitest-results.json> [[LABEL=]<file> ...]
//
// One file per test run (CI runs the suite once per supported Node version, e.g.
// `node22=/tmp/a.json node24=/tmp/b.json`); the gate applies to every run and the
// totals are summed over all of them. Exits non-zero when, for any run,
//   - the file is missing/unreadable, or vitest reported success=false,
//   - any test failed, or a test file failed to load/run,
//   - zero tests ran,
//   - there are no `*.redis.test.ts` files (the real-Redis suites did not run),
//   - any `*.redis.test.ts` file has a skipped/pending/todo test or zero passed tests.
//
// The LAST line printed is always exactly `N passed, N failed, N skipped`.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const REDIS_SUFFIX = '.redis.test.ts';
const SKIP_STATES = new Set(['skipped', 'pending', 'todo', 'disabled']);

const runs = process.argv.slice(2).map((arg) => {
  const eq = arg.indexOf('=');
  return eq > 0 && !arg.slice(0, eq).includes('/')
    ? { label: arg.slice(0, eq), file: arg.slice(eq + 1) }
    : { label: arg, file: arg };
});
const problems = [];
let passed = 0;
let failed = 0;
let skipped = 0;

function rel(path) {
  const r = relative(process.cwd(), path);
  return r.startsWith('..') ? path : r;
}

function finish() {
  console.log('');
  if (problems.length > 0) {
    console.log('TEST GATE FAILED:');
    for (const problem of problems) console.log(`  - ${problem}`);
  } else {
    console.log('TEST GATE OK');
  }
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(problems.length > 0 ? 1 : 0);
}

function summarise({ label, file }) {
  const fail = (problem) => problems.push(runs.length > 1 ? `[${label}] ${problem}` : problem);
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    fail(
      `cannot read vitest JSON results from ${file}: ${error instanceof Error ? error.message : String(error)} ` +
        '(did vitest crash before running tests, e.g. globalSetup failed?)',
    );
    return;
  }

  const files = Array.isArray(report.testResults) ? report.testResults : [];
  const redisFiles = [];
  let runPassed = 0;
  let runFailed = 0;
  console.log(`Test results${runs.length > 1 ? ` [${label}]` : ''} (${file}):`);

  for (const result of files) {
    const name = rel(String(result.name ?? '<unknown file>'));
    const assertions = Array.isArray(result.assertionResults) ? result.assertionResults : [];
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const assertion of assertions) {
      const status = String(assertion.status);
      if (status === 'passed') counts.passed++;
      else if (status === 'failed') counts.failed++;
      else if (SKIP_STATES.has(status)) counts.skipped++;
      else {
        counts.failed++;
        fail(`${name}: test "${assertion.fullName ?? assertion.title}" has unexpected status "${status}"`);
      }
    }
    // A file that failed without any failed test (import error, hook error, ...) counts as one failure.
    if (result.status === 'failed' && counts.failed === 0) {
      counts.failed = 1;
      const message = String(result.message ?? '').split('\n')[0];
      fail(`${name}: test file failed${message ? `: ${message}` : ''}`);
    }
    runPassed += counts.passed;
    runFailed += counts.failed;
    skipped += counts.skipped;
    console.log(`  ${name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);

    if (name.endsWith(REDIS_SUFFIX)) {
      redisFiles.push(name);
      if (counts.skipped > 0) fail(`${name}: real-Redis suite has ${counts.skipped} skipped/pending/todo test(s)`);
      if (counts.passed === 0) fail(`${name}: real-Redis suite has no passing tests`);
    }
  }
  passed += runPassed;
  failed += runFailed;

  console.log(
    `Files: ${files.length} (${redisFiles.length} real-Redis *${REDIS_SUFFIX}); ` +
      `vitest totals: ${report.numPassedTests ?? '?'} passed, ${report.numFailedTests ?? '?'} failed, ` +
      `${report.numPendingTests ?? '?'} pending, ${report.numTodoTests ?? '?'} todo`,
  );
  if (runFailed > 0) fail(`${runFailed} test(s) failed`);
  if (runPassed + runFailed === 0) fail('zero tests ran');
  if (redisFiles.length === 0) fail(`no *${REDIS_SUFFIX} files in the results: the real-Redis suites did not run`);
  if (report.success === false && runFailed === 0) fail('vitest reported success=false (unhandled error outside tests?)');
}

if (runs.length === 0) problems.push('usage: node scripts/test-summary.mjs [LABEL=]<vitest-results.json> ...');
for (const run of runs) summarise(run);
finish();
