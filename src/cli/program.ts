import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { createTokenUsageRepository } from '../application/di/create.js';
import { configFromEnv } from '../application/env-config.js';
import type { TokenUsageRepository } from '../application/token-usage-repository.js';
import { UsageError, ValidationError } from '../domain/errors.js';
import type { Logger } from '../ports/logger.js';
import { writeWithBackpressure } from './cli-io.js';
import type { CliIo, CommandContext } from './cli-io.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import { addScanCommands } from './scan-commands.js';
import { addUsageCommands } from './usage-commands.js';
import type { Runner } from './usage-commands.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/**
 * Runs `token-usage <argv>` and resolves to the exit code (see {@link EXIT}). Nothing connects before
 * the arguments parse, so a usage error never touches Redis; the repository is closed before it returns.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let repo: TokenUsageRepository | undefined;
  let exitCode: number = EXIT.ok;
  let json = argv.includes('--json');
  const program = new Command('token-usage')
    .description('Admin CLI for token-usage-repository: talks to Redis directly (REDIS_URL or REDIS_HOST/REDIS_PORT/...)')
    .version(VERSION)
    .option('--json', 'machine-readable JSON on stdout (errors as JSON on stderr)')
    .option('--verbose', "the library's logs (JSON lines) on stderr")
    .exitOverride()
    // Under --json, commander's own parse errors (unknown option, missing argument) are reported as JSON below.
    .showHelpAfterError(json ? false : '(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      outputError: (text, write) => (json ? undefined : write(text)),
    });

  const context = (command: Command): CommandContext => {
    const globals = command.optsWithGlobals<{ json?: boolean; verbose?: boolean }>();
    json = globals.json === true;
    return {
      io,
      json,
      repo: (options = {}) => {
        if (repo !== undefined) return repo;
        const config = configFromEnv(io.env);
        repo = createTokenUsageRepository({
          config: options.forceAlerts === true ? { ...config, alerts: { ...config.alerts, enabled: true } } : config,
          logger: globals.verbose === true ? stderrLogger(io, {}) : SILENT,
        });
        return repo;
      },
      line: (text) => void io.stdout.write(`${text}\n`),
      printJson: (value) => void io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
      write: (chunk) => writeWithBackpressure(io.stdout, chunk),
    };
  };
  const run: Runner = (action) => async (...args) => {
    const command = args.at(-1) as Command;
    const code = await action(context(command), ...(args.slice(0, -1) as never[]));
    exitCode = typeof code === 'number' ? code : EXIT.ok;
  };
  addUsageCommands(program, run);
  addScanCommands(program, run);

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    // Help and --version end with a CommanderError too, with exit code 0.
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return EXIT.ok;
      if (json) reportError(io, { code: error.code, message: error.message.replace(/^error: /, '') }, json);
      return EXIT.usage;
    }
    reportError(io, error, json);
    return exitCodeOf(error);
  } finally {
    await repo?.close().catch(() => undefined);
  }
}

function reportError(io: CliIo, error: unknown, json: boolean): void {
  const err = error as { code?: string; message?: string; field?: string };
  const fields = {
    code: error instanceof UsageError ? error.code : (err.code ?? 'CLI.ERROR'),
    message: err.message ?? String(error),
    ...(error instanceof ValidationError ? { field: error.field } : {}),
  };
  if (json) io.stderr.write(`${JSON.stringify({ error: fields })}\n`);
  else io.stderr.write(`token-usage: ${fields.message}${exitCodeOf(error) === EXIT.usage ? ' (nothing was written)' : ''}\n`);
}

const noop = (): void => undefined;
const SILENT: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => SILENT };

/** JSON lines on stderr, for --verbose; the library never logs secrets. */
function stderrLogger(io: CliIo, bindings: Record<string, unknown>): Logger {
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message?: string): void =>
      void io.stderr.write(`${JSON.stringify({ level, ...bindings, ...fields, msg: message })}\n`);
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (more) => stderrLogger(io, { ...bindings, ...more }) };
}
