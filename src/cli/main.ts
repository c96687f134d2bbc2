#!/usr/bin/env node
/** The `token-usage` admin CLI (package `bin`). See README "Admin CLI". */
import { runCli } from './program.js';

// A closed pipe (`token-usage export | head`) is the reader saying "enough": stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
