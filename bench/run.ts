/**
 * The benchmark: `npm run bench` (= `tsx bench/run.ts`). Starts its own redis-server on a free
 * 127.0.0.1 port, measures every row at 1, 64, 1,024 and 10,000 operations in flight, runs the
 * redis-benchmark ceiling, the memory-under-outage check and CPU profiles, prints the table and the
 * targets, and writes docs/benchmarks.md.
 *
 * Environment:
 *   BENCH_QUICK=1               smoke mode: 1 round, short cells, no profiles, docs not written
 *   BENCH_ROUNDS=3              rounds (median of them)
 *   BENCH_CELL_MS=1500          measured window per cell; BENCH_WARMUP_MS=300 warm-up per cell
 *   BENCH_LEVELS=1,64,1024,10000
 *   BENCH_ROWS=facade,seed-naive,...   only these rows (ids in bench/rows.ts)
 *   BENCH_AUTOPIPELINING=auto|on|off   auto: probe both and pick what the library would recommend
 *   BENCH_CEILING=0, BENCH_MEMORY=0, BENCH_PROFILE=0   skip those parts
 *   BENCH_DOC=0|1               write docs/benchmarks.md (default: 1 unless BENCH_QUICK)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { runCell } from './cell.js';
import type { CellResult } from './cell.js';
import { loadLibrary } from './lib.js';
import { machineFacts } from './machine.js';
import { microCosts } from './micro.js';
import { memoryUnderOutage } from './memory.js';
import type { MemoryResult } from './memory.js';
import { CpuProfiler, summarizeProfileFile } from './profile.js';
import { redisBenchmarkCeiling } from './redis-benchmark.js';
import type { CeilingResult } from './redis-benchmark.js';
import { LOOPBACK, startRedis } from './redis-server.js';
import { aggregate, checkTargets, consoleTable, consoleTargets, markdown } from './report.js';
import { median } from './stats.js';
import type { ProbeResult, Report } from './report.js';
import { captureRecordCall, ROWS, USER_IDS } from './rows.js';
import type { BenchContext, Row } from './rows.js';

const env = process.env;
const QUICK = env['BENCH_QUICK'] === '1';
const ROUNDS = Number(env['BENCH_ROUNDS'] ?? (QUICK ? 1 : 3));
const CELL_MS = Number(env['BENCH_CELL_MS'] ?? (QUICK ? 300 : 1_500));
const WARMUP_MS = Number(env['BENCH_WARMUP_MS'] ?? (QUICK ? 100 : 300));
const LEVELS = (env['BENCH_LEVELS'] ?? '1,64,1024,10000').split(',').map(Number);
const ROW_FILTER = env['BENCH_ROWS']?.split(',');
const AUTO_PIPELINING = env['BENCH_AUTOPIPELINING'] ?? 'auto';
const flag = (name: string, fallback: boolean): boolean => (env[name] === undefined ? fallback : env[name] === '1');
const CEILING = flag('BENCH_CEILING', true);
const MEMORY = flag('BENCH_MEMORY', true);
const PROFILE = flag('BENCH_PROFILE', !QUICK);
const WRITE_DOC = flag('BENCH_DOC', !QUICK);
const ROOT = new URL('..', import.meta.url);

const rows: readonly Row[] = ROWS.filter((row) => ROW_FILTER === undefined || ROW_FILTER.includes(row.id));
const log = (message: string): void => void process.stdout.write(`${message}\n`);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function cellLine(row: Row, c: CellResult): string {
  const extra = [
    c.errors > 0 ? `ERRORS ${c.errors} (${c.firstError})` : '',
    c.lostRecords !== undefined && c.lostRecords !== 0 ? `LOST ${c.lostRecords}` : '',
  ].join(' ');
  return (
    `  r${c.round} ${row.label.padEnd(42)} ${String(c.concurrency).padStart(5)}  ${fmt(c.opsPerSec).padStart(10)} ops/s` +
    `  p50 ${c.p50.toFixed(3)}  p99 ${c.p99.toFixed(3)}  p999 ${c.p999.toFixed(3)} ms` +
    `  cpu node ${Math.round(c.nodeMainPct)}% redis ${Math.round(c.redisPct)}% others ${Math.round(c.othersPct)}% ${extra}`
  );
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function main(): Promise<void> {
  const began = performance.now();
  const redis = await startRedis();
  log(`redis-server PID ${redis.pid} on ${redis.url}`);
  const admin = new Redis({ host: LOOPBACK, port: redis.port, lazyConnect: false, maxRetriesPerRequest: 1 });
  try {
    await admin.ping();
    const facts = await machineFacts(admin);
    log(`${facts.cpuModel}, ${facts.cores} cores, ${facts.ramGiB} GiB, Node ${facts.node}, Redis ${facts.redis}, ioredis ${facts.ioredis}, load ${facts.loadAverage}`);
    const cycleDate = `${new Date().toISOString().slice(0, 7)}-01`;
    log('compiling src/ ...');
    const lib = await loadLibrary();
    log(`library: ${lib.description}`);
    const baseCtx = { redisUrl: redis.url, users: USER_IDS, cycleDate, admin, lib, logger: lib.createDefaultLogger('silent') };

    let ceilings: CeilingResult[] = [];
    if (CEILING) {
      log('\nredis-benchmark ceiling ...');
      ceilings = await redisBenchmarkCeiling(admin, redis.port, {
        requests: QUICK ? 50_000 : 200_000,
        cycleDate,
        recordScriptLua: lib.recordUsageScript.lua,
        batchScriptLua: lib.applyBatchScript.lua,
        callShape: lib.callShape,
        recordCall: await captureRecordCall({ ...baseCtx, autoPipelining: false }),
      });
      for (const c of ceilings) log(`  ${c.command.padEnd(40)} -P ${String(c.pipeline).padEnd(2)} ${fmt(c.requestsPerSec).padStart(10)} req/s = ${fmt(c.requestsPerSec * c.recordsPerRequest).padStart(10)} records/s  p50 ${c.p50Ms} ms`);
    }

    // enableAutoPipelining: probe our Redis rows and the baselines with and without it.
    const probe: ProbeResult[] = [];
    let autoPipelining = AUTO_PIPELINING === 'on';
    let how = `Forced ${AUTO_PIPELINING} by BENCH_AUTOPIPELINING.`;
    const redisRows = rows.filter((row) => row.redis && row.informational !== true);
    if (AUTO_PIPELINING === 'auto' && redisRows.length > 0) {
      log('\nenableAutoPipelining probe ...');
      const probeRounds = QUICK ? 1 : ROUNDS;
      const perRound = new Map<string, { off: number[]; on: number[] }>();
      for (let round = 1; round <= probeRounds; round++) {
        for (const concurrency of [64, 1024]) {
          for (const row of redisRows) {
            const key = `${row.id}@${concurrency}`;
            const speeds = perRound.get(key) ?? { off: [], on: [] };
            perRound.set(key, speeds);
            for (const mode of round % 2 === 1 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
              const cell = await runCell(row, { ...baseCtx, autoPipelining: mode === 'on' }, {
                concurrency,
                durationMs: QUICK ? 300 : 1_000,
                warmupMs: QUICK ? 100 : 200,
                round,
                redisPid: redis.pid,
              });
              speeds[mode].push(cell.opsPerSec);
            }
          }
        }
      }
      for (const concurrency of [64, 1024]) {
        for (const row of redisRows) {
          const speeds = perRound.get(`${row.id}@${concurrency}`) ?? { off: [], on: [] };
          const ratioMedian = median(speeds.on.map((on, i) => on / (speeds.off[i] ?? Number.NaN)));
          probe.push({ row: row.id, concurrency, off: median(speeds.off), on: median(speeds.on), ratio: ratioMedian });
          log(`  ${row.label.padEnd(42)} ${String(concurrency).padStart(5)}  off ${fmt(median(speeds.off)).padStart(8)}  on ${fmt(median(speeds.on)).padStart(8)}  x${ratioMedian.toFixed(2)}`);
        }
      }
      const ours = probe.filter((p) => ['facade', 'reserve+commit', 'reserve'].includes(p.row));
      const geomean = Math.exp(ours.reduce((s, p) => s + Math.log(p.ratio), 0) / Math.max(1, ours.length));
      autoPipelining = geomean > 1.03;
      how =
        `Probed every Redis row with and without \`enableAutoPipelining\` (${QUICK ? 1 : ROUNDS} round(s) of one ${QUICK ? 300 : 1_000} ms cell per mode at 64 and 1,024 in flight, modes alternating first; table: medians, on/off = median of per-round ratios). ` +
        `Across our own Redis paths (facade, reserve+commit, reserve) it changed throughput by a geometric mean of ${geomean.toFixed(2)}x, ` +
        `so the library's recommendation is to ${autoPipelining ? 'turn it ON' : 'leave it OFF (the default)'}, and the table runs **every** Redis row, baselines included, with it ${autoPipelining ? 'on' : 'off'}. ` +
        '`createRedisClient` has no option for it: the benchmark sets `client.options.enableAutoPipelining` on the client the library built (ioredis reads the flag on every call) and injects the store into `createTokenUsageRepository({ store })`. ' +
        'The buffered recorder and the seed-naive row send explicit pipelines, which auto-pipelining does not change.';
      log(`  -> geometric mean on/off over our paths: ${geomean.toFixed(2)}x; using enableAutoPipelining=${autoPipelining}`);
    }
    const ctx: BenchContext = { ...baseCtx, autoPipelining };

    log(`\nmain run: ${ROUNDS} round(s) x ${rows.length} rows x [${LEVELS.join(', ')}] in flight, ${CELL_MS} ms cells`);
    const cells: CellResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const concurrency of LEVELS) {
        for (const row of rotate(rows, round - 1 + LEVELS.indexOf(concurrency))) {
          const cell = await runCell(row, ctx, { concurrency, durationMs: CELL_MS, warmupMs: WARMUP_MS, round, redisPid: redis.pid });
          cells.push(cell);
          log(cellLine(row, cell));
        }
      }
    }

    let memory: MemoryResult | undefined;
    if (MEMORY) {
      log('\nmemory while Redis is down ...');
      memory = await memoryUnderOutage(lib, { highWaterMark: 5_000, durationMs: QUICK ? 1_000 : 3_000 });
      log(
        `  retained peak ${memory.peakRetainedMB.toFixed(1)} MB, raw peak ${memory.peakHeapGrowthMB.toFixed(1)} MB (bound ${memory.boundMB.toFixed(1)} MB), accepted ${memory.acceptedRecords}, ` +
          `pending ${memory.pendingRecords}, dead-lettered ${memory.deadLetteredRecords}, blocked callers ${memory.blockedCallers}; ${memory.closeOutcome} -> ${memory.pass ? 'PASS' : 'MISS'}`,
      );
    }

    const profiles: Array<Report['profiles'][number]> = [];
    if (PROFILE) {
      const dir = join(tmpdir(), 'tur-bench-profiles');
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
      const plan: Array<[string, number]> = [
        ['facade', 1024],
        ['ioredis-1cmd', 1024],
        ['seed-naive', 1024],
        ['reserve', 1024],
        ['rlf', 1024],
        ['raw-script', 1024],
        ['buffered', 1024],
        ['memory', 64],
      ];
      log(`\nCPU profiles -> ${dir}`);
      for (const [id, concurrency] of plan) {
        const row = rows.find((r) => r.id === id);
        if (row === undefined) continue;
        const profiler = new CpuProfiler();
        const file = join(dir, `${id.replace(/[^\w-]/g, '_')}-${concurrency}.cpuprofile`);
        let summary: Awaited<ReturnType<CpuProfiler['stop']>> | undefined;
        const cell = await runCell(row, ctx, {
          concurrency,
          durationMs: CELL_MS,
          warmupMs: WARMUP_MS,
          round: 0,
          redisPid: redis.pid,
          around: {
            before: () => profiler.start(),
            after: async () => {
              summary = await profiler.stop(file);
            },
          },
        });
        if (summary === undefined) continue;
        profiles.push({ row: id, concurrency, opsPerSec: cell.opsPerSec, nodeMainPct: cell.nodeMainPct, redisPct: cell.redisPct, summary });
        log(`  ${row.label} @${concurrency}: ${fmt(cell.opsPerSec)} ops/s; owners: ${summary.owners.slice(0, 6).map((o) => `${o.owner} ${o.selfPct.toFixed(1)}%`).join(', ')}`);
        for (const t of summary.top.slice(0, 8)) log(`      ${t.selfPct.toFixed(1).padStart(5)}%  ${t.name}  ${t.where}`);
      }
    }

    let micro: Array<readonly [string, number]> = [];
    if (PROFILE) {
      log('\nper-call costs (bench/micro.ts) ...');
      micro = await microCosts(lib);
      for (const [name, ns] of micro) log(`  ${name.padEnd(78)} ${Math.round(ns).toString().padStart(6)} ns`);
    }

    const aggs = aggregate(cells, rows, LEVELS);
    const checks = checkTargets(cells, aggs, LEVELS, memory);
    log(`\n${consoleTable(aggs, rows)}\n`);
    log(`Targets (median of per-round ratios):\n${consoleTargets(checks)}\n`);

    if (WRITE_DOC) {
      const report: Omit<Report, 'rows' | 'analysis'> = {
        facts,
        settings: { rounds: ROUNDS, cellMs: CELL_MS, warmupMs: WARMUP_MS, levels: LEVELS, quick: QUICK, library: lib.description },
        autoPipelining: { enabled: autoPipelining, how, probe },
        aggs,
        checks,
        ceilings,
        memory,
        profiles,
        micro,
        durationS: (performance.now() - began) / 1000,
      };
      const saved = join(tmpdir(), 'tur-bench-report.json');
      writeFileSync(saved, JSON.stringify({ report, rowIds: rows.map((r) => r.id), cells }, null, 1));
      writeDoc(report, rows);
      log(`raw results: ${saved} (BENCH_RENDER=${saved} re-renders the doc without measuring)`);
    }
    log(`done in ${Math.round((performance.now() - began) / 1000)} s`);
  } finally {
    await admin.quit().catch(() => admin.disconnect());
    await redis.stop();
  }
}

/** Writes docs/benchmarks.md, appending bench/analysis.md (the hand-written findings) if present. */
function writeDoc(report: Omit<Report, 'rows' | 'analysis'>, docRows: readonly Row[]): void {
  const analysisFile = new URL('bench/analysis.md', ROOT);
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '';
  const out = new URL('docs/benchmarks.md', ROOT);
  writeFileSync(out, markdown({ ...report, rows: docRows, analysis }));
  log(`wrote ${out.pathname}`);
}

const render = env['BENCH_RENDER'];
const entry =
  render === undefined
    ? main
    : async (): Promise<void> => {
        const saved = JSON.parse(readFileSync(render, 'utf8')) as {
          report: Omit<Report, 'rows' | 'analysis'>;
          rowIds: string[];
          cells: CellResult[];
        };
        // Re-derive the target checks from the saved cells, so check/label changes apply too.
        const checks = checkTargets(saved.cells, saved.report.aggs, saved.report.settings.levels, saved.report.memory);
        // Re-summarise the saved .cpuprofile files, so summary changes apply without measuring again.
        const profiles = saved.report.profiles.map((p) =>
          existsSync(p.summary.file) ? { ...p, summary: summarizeProfileFile(p.summary.file) } : p,
        );
        writeDoc({ ...saved.report, profiles, checks }, ROWS.filter((row) => saved.rowIds.includes(row.id)));
      };

entry().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
