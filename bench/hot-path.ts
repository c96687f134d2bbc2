/**
 * The in-process record path, before and after, side by side: `npx tsx bench/hot-path.ts [--base <rev>]
 * [--rounds N]`. Compiles the working tree's src/ (and, with `--base`, the same files of a git revision)
 * with `tsc -p tsconfig.build.json` into private temporary directories, loads both into this process and
 * measures them in interleaved rounds (base, new, base, new, ...), so machine load hits both alike.
 *
 * Rows, each a closed loop with 64 calls in flight over 10,000 round-robin users, ns of this process's
 * wall time per op (records/s in brackets; the median of the rounds):
 * - facade on the memory store: `createTokenUsageRepository({ store: 'memory' })`, `incrementDetailedUsage(user, 100, 50)`
 * - bare memory store: `InMemoryUsageStore.recordUsage(command)` with a plain command object (validated)
 * - facade over a stub store that resolves at once: the Node-side cost the facade adds in front of Redis
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { COMPLETION, PROMPT, USER_IDS, USERS } from './rows.js';

type Index = typeof import('../src/index.js');

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IN_FLIGHT = 64;
const OPS = 400_000;

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

/** Compiles `sourceRoot`'s src/ into `base/dist` next to a package.json and node_modules (as dist/ sits in the package). */
function compile(sourceRoot: string, base: string): string {
  mkdirSync(base, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(base, 'package.json'));
  if (!existsSync(join(base, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'), 'dir');
  const out = join(base, 'dist');
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(sourceRoot, 'tsconfig.build.json'), '--outDir', out, '--declaration', 'false'], {
    stdio: 'pipe',
  });
  return out;
}

function checkout(rev: string, dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['-C', ROOT, 'archive', rev, 'src', 'package.json', 'tsconfig.json', 'tsconfig.build.json']);
  writeFileSync(join(dir, 'src.tar'), archive);
  execFileSync('tar', ['-xf', join(dir, 'src.tar'), '-C', dir]);
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

interface Variant {
  readonly label: string;
  readonly rows: ReadonlyArray<readonly [string, (i: number) => Promise<unknown>]>;
  readonly close: () => Promise<void>;
}

async function variant(label: string, dist: string): Promise<Variant> {
  const lib = (await import(pathToFileURL(join(dist, 'index.js')).href)) as Index;
  const config = { store: 'memory', logLevel: 'silent' } as const;
  const facade = lib.createTokenUsageRepository({ config });
  const store = new lib.InMemoryUsageStore();
  const outcome = { duplicate: false, counters: { promptTokens: 1, completionTokens: 1, totalTokens: 2 } };
  const stub = {
    recordUsage: () => Promise.resolve(outcome),
    recordUsageBatch: () => Promise.resolve([]),
    readUsage: () => Promise.reject(new Error('not used')),
    resetUsage: () => Promise.resolve(),
    setLimit: () => Promise.resolve(),
    reserve: () => Promise.reject(new Error('not used')),
    releaseLease: () => Promise.resolve(false),
    close: () => Promise.resolve(),
  } as unknown as import('../src/index.js').UsageStore;
  const overStub = lib.createTokenUsageRepository({ config, store: stub });
  const cycle = { start: new Date().toISOString().slice(0, 8) + '01', retainUntil: Date.now() + 100 * 86_400_000 };
  const user = (i: number): string => USER_IDS[i % USERS] as string;
  return {
    label,
    rows: [
      ['facade, memory store', (i) => facade.incrementDetailedUsage(user(i), PROMPT, COMPLETION)],
      [
        'bare InMemoryUsageStore.recordUsage',
        (i) =>
          store.recordUsage({
            userId: user(i),
            cycle,
            promptTokens: PROMPT,
            completionTokens: COMPLETION,
            otherTokens: 0,
            idempotencyKeys: [],
            dedupeWindowMs: 86_400_000,
            releaseLease: null,
            rollupDay: cycle.start,
          } as never),
      ],
      ['facade over a stub store (Node side in front of Redis)', (i) => overStub.incrementDetailedUsage(user(i), PROMPT, COMPLETION)],
    ],
    close: async () => {
      await facade.close();
      await overStub.close();
    },
  };
}

/** ns of wall time per op for OPS ops, IN_FLIGHT at a time. */
async function closedLoop(op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < OPS) await op(next++);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return ((performance.now() - t0) * 1e6) / OPS;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function main(): Promise<void> {
  const rounds = Number(argument('--rounds') ?? 5);
  const baseRev = argument('--base');
  const work = join(tmpdir(), `tur-hot-path-${process.pid}`);
  const variants: Variant[] = [];
  try {
    if (baseRev !== undefined) variants.push(await variant(`base ${baseRev}`, compile(checkout(baseRev, join(work, 'base-src')), join(work, 'base'))));
    variants.push(await variant('working tree', compile(ROOT, join(work, 'new'))));
    const results = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      for (const v of variants) {
        for (const [name, op] of v.rows) {
          const ns = await closedLoop(op);
          const key = `${name}\u0000${v.label}`;
          results.set(key, [...(results.get(key) ?? []), ns]);
        }
      }
    }
    process.stdout.write(`node ${process.version}, ${OPS.toLocaleString('en-US')} ops per cell, ${IN_FLIGHT} in flight, ${USERS.toLocaleString('en-US')} users, median of ${rounds} interleaved rounds\n\n`);
    process.stdout.write(`| row | ${variants.map((v) => v.label).join(' | ')} |\n| --- |${variants.map(() => ' ---: |').join('')}\n`);
    for (const [name] of variants[0]?.rows ?? []) {
      const cells = variants.map((v) => {
        const ns = median(results.get(`${name}\u0000${v.label}`) ?? []);
        return `${ns.toFixed(0)} ns (${Math.round(1e9 / ns).toLocaleString('en-US')}/s)`;
      });
      process.stdout.write(`| ${name} | ${cells.join(' | ')} |\n`);
    }
    for (const v of variants) await v.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
    process.exit(1);
  },
);
