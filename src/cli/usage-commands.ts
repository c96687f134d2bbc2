import asciichart from 'asciichart';
import type { Command } from 'commander';
import type { CommandContext } from './cli-io.js';
import { EXIT, UsageArgumentError } from './exit-codes.js';
import { limitText, table } from './format.js';

/** Runs a command's action with its context; resolves to the exit code. */
export type Runner = (action: (ctx: CommandContext, ...args: never[]) => Promise<number | void>) => (...args: unknown[]) => Promise<void>;

/** `--tokens` and `n`: a positive safe integer, else a usage error (the library validates again). */
export function positiveInteger(value: string, name: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageArgumentError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** The read and write commands on one user: stats, limit, check, reset, history. */
export function addUsageCommands(program: Command, run: Runner): void {
  program
    .command('stats')
    .description("a user's counters for a cycle")
    .argument('<user>', 'user id')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .action(
      run(async (ctx, user: string, options: { cycle?: string }) => {
        const stats = await ctx.repo().getUsageStats(user, options.cycle);
        const check = await ctx.repo().checkUsageLimit(user, options.cycle);
        const result = { userId: user, ...stats, ...limitFields(check) };
        if (ctx.json) return ctx.printJson(result);
        ctx.line(table(['user', 'prompt', 'completion', 'total', 'limit'], [[user, stats.promptTokens, stats.completionTokens, stats.totalTokens, limitText(result.limit)]]));
      }),
    );

  const limit = program.command('limit').description("get, set or clear a user's limit");
  limit
    .command('get')
    .description('the effective limit (cycle override, else standing) and what is left')
    .argument('<user>', 'user id')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .action(
      run(async (ctx, user: string, options: { cycle?: string }) => {
        const check = await ctx.repo().checkUsageLimit(user, options.cycle);
        const result = { userId: user, currentUsage: check.currentUsage, ...limitFields(check) };
        if (ctx.json) return ctx.printJson(result);
        ctx.line(`${user}: limit ${limitText(result.limit)}, used ${check.currentUsage.toLocaleString('en-US')}, remaining ${result.remaining === null ? 'unlimited' : result.remaining.toLocaleString('en-US')}`);
      }),
    );
  limit
    .command('set')
    .description('set the standing limit, or with --cycle an override for that cycle only')
    .argument('<user>', 'user id')
    .argument('<tokens>', 'limit in tokens (> 0; use `limit clear` to remove)')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD: override that cycle only')
    .action(
      run(async (ctx, user: string, tokens: string, options: { cycle?: string }) => {
        const value = positiveInteger(tokens, 'tokens');
        if (value === 0) throw new UsageArgumentError('tokens must be > 0; use `token-usage limit clear` to remove a limit');
        await ctx.repo().setUsageLimit(user, value, options.cycle);
        const result = { userId: user, limit: value, scope: options.cycle === undefined ? 'standing' : 'cycle', cycleStartDate: options.cycle ?? null };
        if (ctx.json) return ctx.printJson(result);
        ctx.line(`${user}: ${result.scope} limit set to ${value.toLocaleString('en-US')}${options.cycle === undefined ? '' : ` for ${options.cycle}`}`);
      }),
    );
  limit
    .command('clear')
    .description('remove the standing limit, or with --cycle that cycle override')
    .argument('<user>', 'user id')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD: remove that override only')
    .action(
      run(async (ctx, user: string, options: { cycle?: string }) => {
        await ctx.repo().setUsageLimit(user, 0, options.cycle);
        const result = { userId: user, cleared: options.cycle === undefined ? 'standing' : 'cycle', cycleStartDate: options.cycle ?? null };
        if (ctx.json) return ctx.printJson(result);
        ctx.line(`${user}: ${result.cleared} limit removed`);
      }),
    );

  program
    .command('check')
    .description('is the user within the limit (or would --tokens fit, counting reservations)? exit 1 when not')
    .argument('<user>', 'user id')
    .option('-t, --tokens <n>', 'tokens about to be used')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .action(
      run(async (ctx, user: string, options: { tokens?: string; cycle?: string }) => {
        if (options.tokens !== undefined) {
          const tokens = positiveInteger(options.tokens, '--tokens');
          const consume = await ctx.repo().canConsume(user, tokens, options.cycle);
          const unlimited = consume.remaining === null ? false : !Number.isFinite(consume.remaining);
          const result = { userId: user, requestedTokens: tokens, ...consume, limit: unlimited ? null : consume.limit, remaining: finite(consume.remaining), unlimited };
          if (ctx.json) ctx.printJson(result);
          else ctx.line(`${user}: ${consume.allowed ? 'fits' : 'does not fit'} (${consume.reason}; used ${consume.currentUsage ?? '?'}, reserved ${consume.reserved ?? '?'}, limit ${limitText(result.limit)})`);
          return consume.allowed ? EXIT.ok : EXIT.negative;
        }
        const check = await ctx.repo().checkUsageLimit(user, options.cycle);
        const result = { userId: user, exceeded: check.exceeded, currentUsage: check.currentUsage, ...limitFields(check) };
        if (ctx.json) ctx.printJson(result);
        else ctx.line(`${user}: ${check.exceeded ? 'EXCEEDED' : 'within limit'} (used ${check.currentUsage.toLocaleString('en-US')} of ${limitText(result.limit)})`);
        return check.exceeded ? EXIT.negative : EXIT.ok;
      }),
    );

  program
    .command('reset')
    .description("clear a user's counters and history for a cycle (limits and reservations stay); needs --yes")
    .argument('<user>', 'user id')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .option('-y, --yes', 'really reset')
    .action(
      run(async (ctx, user: string, options: { cycle?: string; yes?: boolean }) => {
        if (options.yes !== true) throw new UsageArgumentError('reset deletes usage: add --yes to confirm');
        await ctx.repo().resetUsage(user, options.cycle);
        if (ctx.json) return ctx.printJson({ userId: user, reset: true, cycleStartDate: options.cycle ?? null });
        ctx.line(`${user}: usage reset`);
      }),
    );

  program
    .command('history')
    .description("a user's usage per day (or per cycle), optionally as a terminal chart")
    .argument('<user>', 'user id')
    .option('--from <date>', 'first day YYYY-MM-DD (default: the current cycle start)')
    .option('--to <date>', 'last day YYYY-MM-DD (default: today)')
    .option('-g, --granularity <day|cycle>', 'day or cycle', 'day')
    .option('--chart', 'draw total tokens as a chart (asciichart)')
    .action(
      run(async (ctx, user: string, options: { from?: string; to?: string; granularity: string; chart?: boolean }) => {
        const rows = await ctx.repo().usageHistory(user, { from: options.from, to: options.to, granularity: options.granularity });
        if (ctx.json) return ctx.printJson(rows);
        if (options.chart === true) {
          const totals = rows.map((row) => row.totalTokens);
          ctx.line(`${user}: total tokens per ${options.granularity}, ${rows[0]?.windowStart.slice(0, 10) ?? ''} .. ${rows.at(-1)?.windowStart.slice(0, 10) ?? ''}`);
          // asciichart needs two points and a non-flat range to scale; pad a single or all-zero series.
          const series = totals.length < 2 ? [...totals, ...totals, 0] : totals;
          ctx.line(asciichart.plot(series, { height: 10, format: (x: number) => Math.round(x).toLocaleString('en-US').padStart(12) }));
          return;
        }
        ctx.line(table(['window start', 'prompt', 'completion', 'total'], rows.map((row) => [row.windowStart, row.promptTokens, row.completionTokens, row.totalTokens])));
      }),
    );
}

/** JSON has no Infinity: an unlimited `remaining` is `null` (with `unlimited: true` beside it). */
function finite(value: number | null): number | null {
  return value !== null && Number.isFinite(value) ? value : null;
}

/** The facade reports "no limit" as limit 0 and remaining Infinity (the seed's shape); JSON gets nulls. */
function limitFields(check: { readonly limit: number; readonly remaining: number }): { limit: number | null; remaining: number | null; unlimited: boolean } {
  const unlimited = !Number.isFinite(check.remaining);
  return { limit: unlimited ? null : check.limit, remaining: unlimited ? null : check.remaining, unlimited };
}
