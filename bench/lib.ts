/**
 * Loads the library under test. By default the benchmark compiles src/ with the project's own
 * `tsc -p tsconfig.build.json` into a temporary directory and imports the JavaScript from there,
 * i.e. what users run from `dist/`. (Importing src/ through tsx would measure tsx: esbuild's
 * keepNames wraps every inner closure in `__name(...)`, an `Object.defineProperty` per call, which
 * showed up as ~10% of the in-memory store's CPU.) `BENCH_TARGET=src` imports src/ through tsx anyway.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Create = typeof import('../src/application/di/create.js');
type Config = typeof import('../src/application/config.js');
type DefaultLogger = typeof import('../src/application/default-logger.js');
type Connection = typeof import('../src/adapters/redis/redis-connection.js');
type Store = typeof import('../src/adapters/redis/redis-usage-store.js');
type Buffered = typeof import('../src/application/buffered-usage-recorder.js');
type Di = typeof import('../src/application/di/index.js');
type RecordScript = typeof import('../src/adapters/redis/scripts/record-usage.js');
type BatchScript = typeof import('../src/adapters/redis/scripts/apply-batch.js');

export interface Library {
  readonly createTokenUsageRepository: Create['createTokenUsageRepository'];
  readonly resolveConfig: Config['resolveConfig'];
  readonly createDefaultLogger: DefaultLogger['createDefaultLogger'];
  readonly createRedisClient: Connection['createRedisClient'];
  readonly RedisUsageStore: Store['RedisUsageStore'];
  readonly BufferedUsageRecorder: Buffered['BufferedUsageRecorder'];
  readonly tokenUsageModule: Di['tokenUsageModule'];
  readonly TOKENS: Di['TOKENS'];
  readonly recordUsageScript: RecordScript['recordUsageScript'];
  readonly applyBatchScript: BatchScript['applyBatchScript'];
  readonly callShape: BatchScript['callShape'];
  /** Where the code came from, for the report. */
  readonly description: string;
  /** Directory of the loaded modules (src/ or the compiled dist) and their extension. */
  readonly moduleDir: string;
  readonly moduleExt: string;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function compile(): string {
  // A folder of this process's own: two benchmarks (e.g. in two worktrees) never overwrite each
  // other's build. Removed when the process exits.
  const base = mkdtempSync(join(tmpdir(), 'tur-bench-build-'));
  process.once('exit', () => rmSync(base, { recursive: true, force: true }));
  // The compiled modules need the package's package.json ("type": "module", and the facade reads
  // its version from ../../package.json) and its node_modules, at the same relative places as dist/.
  copyFileSync(join(ROOT, 'package.json'), join(base, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'), 'dir');
  const out = join(base, 'dist');
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  try {
    execFileSync(
      tsc,
      ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out, '--declaration', 'false', '--noEmitOnError', 'false'],
      { stdio: 'pipe', encoding: 'utf8' },
    );
  } catch (error) {
    // Type errors still emit JavaScript (noEmitOnError false); say so, and go on if it did.
    const stdout = (error as { stdout?: string }).stdout ?? '';
    if (!existsSync(join(out, 'index.js'))) throw new Error(`tsc emitted nothing:\n${stdout}`);
    process.stderr.write(`[bench] tsc reported type errors in src/ (JavaScript emitted anyway):\n${stdout.split('\n').slice(0, 10).join('\n')}\n`);
  }
  return out;
}

export async function loadLibrary(): Promise<Library> {
  const fromSrc = process.env['BENCH_TARGET'] === 'src';
  const dir = fromSrc ? join(ROOT, 'src') : compile();
  const ext = fromSrc ? '.ts' : '.js';
  const load = <T>(path: string): Promise<T> => import(pathToFileURL(join(dir, `${path}${ext}`)).href) as Promise<T>;
  const [create, config, logger, connection, store, buffered, di, script, batch] = await Promise.all([
    load<Create>('application/di/create'),
    load<Config>('application/config'),
    load<DefaultLogger>('application/default-logger'),
    load<Connection>('adapters/redis/redis-connection'),
    load<Store>('adapters/redis/redis-usage-store'),
    load<Buffered>('application/buffered-usage-recorder'),
    load<Di>('application/di/index'),
    load<RecordScript>('adapters/redis/scripts/record-usage'),
    load<BatchScript>('adapters/redis/scripts/apply-batch'),
  ]);
  return {
    createTokenUsageRepository: create.createTokenUsageRepository,
    resolveConfig: config.resolveConfig,
    createDefaultLogger: logger.createDefaultLogger,
    createRedisClient: connection.createRedisClient,
    RedisUsageStore: store.RedisUsageStore,
    BufferedUsageRecorder: buffered.BufferedUsageRecorder,
    tokenUsageModule: di.tokenUsageModule,
    TOKENS: di.TOKENS,
    recordUsageScript: script.recordUsageScript,
    applyBatchScript: batch.applyBatchScript,
    callShape: batch.callShape,
    moduleDir: dir,
    moduleExt: ext,
    description: fromSrc
      ? 'src/ imported through tsx (BENCH_TARGET=src)'
      : 'src/ compiled by `tsc -p tsconfig.build.json` into a temporary dist (what users run), imported as plain JavaScript',
  };
}
