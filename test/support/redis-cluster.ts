import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeLoopbackPort } from './free-port.js';

const run = promisify(execFile);
const LOOPBACK = '127.0.0.1';
const READY_LINE = 'Ready to accept connections';
const SLOTS = 16_384;

/** One redis-server of the cluster, as the kit started it. */
export interface ClusterNodeProcess {
  readonly port: number;
  readonly dir: string;
  child: ChildProcess | undefined;
  /** The tail of its log. */
  log: string;
}

/** A node as `CLUSTER NODES` describes it. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** For a replica: its master's id. */
  readonly masterId: string | null;
  readonly failed: boolean;
  /** Slots owned (masters), as counted from the ranges. */
  readonly slots: number;
}

/** Options of {@link RedisClusterKit.start}. */
export interface ClusterKitOptions {
  readonly masters?: number;
  readonly replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a silent master takes to be failed over. Default 2,000 ms. */
  readonly nodeTimeoutMs?: number;
  /** Longest wait for the cluster to become ok, in ms. Default 60,000. */
  readonly readyTimeoutMs?: number;
}

/**
 * A real Redis Cluster for tests: `masters` masters with `replicasPerMaster` replicas each (default
 * 3 + 3), each a `redis-server` (the binary on PATH or $REDIS_SERVER_BIN) on a free 127.0.0.1 port with
 * AOF on in its own temporary directory, joined by `redis-cli --cluster create`. Nodes are stopped by
 * the PIDs the kit spawned, never by name. Fault tests start their own kit and kill, fail over and
 * reshard it; the shared one of the global setup is left alone.
 */
export class RedisClusterKit {
  readonly nodes: ClusterNodeProcess[] = [];
  readonly #options: Required<ClusterKitOptions>;
  readonly #onExit = (): void => {
    for (const node of this.nodes) node.child?.kill('SIGKILL');
  };

  private constructor(options: ClusterKitOptions) {
    this.#options = { masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 2_000, readyTimeoutMs: 60_000, ...options };
  }

  /** Starts every node, creates the cluster and waits until every node says `cluster_state:ok`. */
  static async start(options: ClusterKitOptions = {}): Promise<RedisClusterKit> {
    const kit = new RedisClusterKit(options);
    process.once('exit', kit.#onExit);
    try {
      const count = kit.#options.masters * (1 + kit.#options.replicasPerMaster);
      for (let i = 0; i < count; i += 1) {
        kit.nodes.push({ port: await freeLoopbackPort(), dir: mkdtempSync(join(tmpdir(), 'tur-cluster-')), child: undefined, log: '' });
      }
      await Promise.all(kit.nodes.map((node) => kit.#spawn(node)));
      await redisCli([
        '--cluster', 'create', ...kit.nodes.map((node) => `${LOOPBACK}:${node.port}`),
        '--cluster-replicas', String(kit.#options.replicasPerMaster), '--cluster-yes',
      ]);
      await kit.#waitForReplicas(kit.#options.masters * kit.#options.replicasPerMaster);
      await kit.waitHealthy();
      return kit;
    } catch (error) {
      await kit.stop();
      throw error;
    }
  }

  /** `[{ host, port }]` of every node, for an ioredis `Cluster`. */
  get seeds(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: LOOPBACK, port: node.port }));
  }

  /** Runs a command on one node through redis-cli and returns its raw output. */
  async cli(port: number, ...args: string[]): Promise<string> {
    return redisCli(['-h', LOOPBACK, '-p', String(port), ...args]);
  }

  /** The topology as a live node sees it. */
  async topology(): Promise<ClusterNodeInfo[]> {
    const text = await this.cli(this.#liveNode().port, 'CLUSTER', 'NODES');
    return text.trim().split('\n').filter(Boolean).map(parseNodeLine);
  }

  /** The live masters' ports. */
  async masterPorts(): Promise<number[]> {
    const running = new Set(this.nodes.filter((node) => node.child !== undefined).map((node) => node.port));
    return (await this.topology()).filter((n) => n.role === 'master' && n.slots > 0 && running.has(n.port)).map((n) => n.port);
  }

  /**
   * Waits until every running node says `cluster_state:ok`, every slot is served by a master that
   * is not failed, and all running nodes agree on it.
   */
  async waitHealthy(timeoutMs = this.#options.readyTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const running = this.nodes.filter((node) => node.child !== undefined);
        const infos = await Promise.all(running.map((node) => this.cli(node.port, 'CLUSTER', 'INFO')));
        const states = infos.map((info) => /cluster_state:(\w+)/.exec(info)?.[1] ?? '?');
        const assigned = infos.map((info) => Number(/cluster_slots_ok:(\d+)/.exec(info)?.[1] ?? 0));
        const topology = await this.topology();
        const isRunning = (port: number): boolean => running.some((node) => node.port === port);
        // A killed master still owns its slots until a replica is promoted: count running owners only.
        const served = topology
          .filter((n) => n.role === 'master' && !n.failed && isRunning(n.port))
          .reduce((sum, n) => sum + n.slots, 0);
        const knownFailed = topology.some((n) => n.failed && isRunning(n.port));
        // A replica that never synced will not be promoted: wait for every replication link.
        const replication = await Promise.all(running.map((node) => this.cli(node.port, 'INFO', 'replication')));
        const linksUp = replication.every((info) => info.includes('role:master') || info.includes('master_link_status:up'));
        if (states.every((s) => s === 'ok') && assigned.every((n) => n === SLOTS) && served === SLOTS && !knownFailed && linksUp) {
          return;
        }
        last = `states ${states.join(',')}, slots ok ${assigned.join(',')}, served ${served}, replication links up ${linksUp}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await sleep(200);
    }
    throw new Error(`the Redis Cluster did not become healthy within ${timeoutMs} ms (${last})`);
  }

  /** Waits until every node sees `count` replicas (the create command returns before gossip spreads). */
  async #waitForReplicas(count: number): Promise<void> {
    const deadline = Date.now() + this.#options.readyTimeoutMs;
    while (Date.now() < deadline) {
      const views = await Promise.all(this.nodes.map((node) => this.cli(node.port, 'CLUSTER', 'NODES')));
      if (views.every((view) => view.split('\n').filter((line) => /[ ,](slave|replica)[ ,]/.test(line)).length === count)) return;
      await sleep(100);
    }
    throw new Error(`the cluster's nodes did not all see ${count} replicas`);
  }

  /** Kills one node with a signal (SIGKILL: a crash) and waits for the process to be gone. */
  async kill(port: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.#node(port);
    const child = node.child;
    node.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** Starts a killed node again on its port and data (it rejoins from its nodes.conf). */
  async restart(port: number): Promise<void> {
    await this.#spawn(this.#node(port));
  }

  /**
   * `CLUSTER FAILOVER` on a replica; resolves when the replica reports itself master. A manual
   * failover that Redis aborted (its master did not pause in time) is asked for again.
   */
  async failover(replicaPort: number): Promise<void> {
    const deadline = Date.now() + this.#options.readyTimeoutMs;
    while (Date.now() < deadline) {
      await this.cli(replicaPort, 'CLUSTER', 'FAILOVER');
      for (const askedAt = Date.now(); Date.now() - askedAt < 6_000 && Date.now() < deadline; ) {
        const role = await this.cli(replicaPort, 'ROLE');
        if (role.startsWith('master')) return;
        await sleep(100);
      }
    }
    const log = this.#node(replicaPort).log.trim().split('\n').slice(-8).join(' | ');
    throw new Error(`the replica on ${replicaPort} did not become master: ${log}`);
  }

  /** Moves `slots` slots from one master to another with `redis-cli --cluster reshard`. */
  async reshard(fromPort: number, toPort: number, slots: number): Promise<void> {
    const topology = await this.topology();
    const id = (port: number): string => topology.find((n) => n.port === port)?.id ?? '';
    await redisCli([
      '--cluster', 'reshard', `${LOOPBACK}:${fromPort}`, '--cluster-from', id(fromPort), '--cluster-to', id(toPort),
      '--cluster-slots', String(slots), '--cluster-yes',
    ]);
  }

  /** Stops every node by PID and removes their directories. */
  async stop(): Promise<void> {
    process.off('exit', this.#onExit);
    await Promise.all(this.nodes.map((node) => this.kill(node.port, 'SIGTERM')));
    for (const node of this.nodes) rmSync(node.dir, { recursive: true, force: true });
  }

  #node(port: number): ClusterNodeProcess {
    const node = this.nodes.find((n) => n.port === port);
    if (node === undefined) throw new Error(`no node of this cluster on port ${port}`);
    return node;
  }

  #liveNode(): ClusterNodeProcess {
    const node = this.nodes.find((n) => n.child !== undefined);
    if (node === undefined) throw new Error('no node of the cluster is running');
    return node;
  }

  #spawn(node: ClusterNodeProcess): Promise<void> {
    const child = spawn(
      process.env['REDIS_SERVER_BIN'] || 'redis-server',
      [
        '--port', String(node.port), '--bind', LOOPBACK, '--dir', node.dir, '--save', '',
        '--appendonly', 'yes', '--repl-diskless-sync-delay', '0', '--cluster-enabled', 'yes', '--cluster-config-file', join(node.dir, 'nodes.conf'),
        '--cluster-node-timeout', String(this.#options.nodeTimeoutMs), '--cluster-announce-ip', LOOPBACK,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    node.child = child;
    return new Promise<void>((resolve, reject) => {
      let output = '';
      const fail = (error: Error): void => {
        clearTimeout(timer);
        node.child = undefined;
        reject(error);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`redis-server on ${node.port} did not start: ${output.slice(-300)}`));
      }, 15_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        const ready = output.includes(READY_LINE);
        // Keep the log's tail (for a failing test's message) and drain the pipe so redis never blocks.
        output = (output + chunk.toString()).slice(-8_000);
        node.log = output;
        if (!ready && output.includes(READY_LINE)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.resume();
      child.once('error', fail);
      child.once('exit', (code, signal) => {
        if (!output.includes(READY_LINE)) fail(new Error(`redis-server on ${node.port} exited (${code ?? signal}): ${output.slice(-300)}`));
      });
    });
  }
}

async function redisCli(args: string[]): Promise<string> {
  const { stdout } = await run(process.env['REDIS_CLI_BIN'] || 'redis-cli', args, { timeout: 120_000 });
  return stdout;
}

function parseNodeLine(line: string): ClusterNodeInfo {
  const [id = '', address = '', flags = '', master = '-', , , , , ...slotRanges] = line.split(' ');
  const port = Number(/:(\d+)@/.exec(address)?.[1] ?? 0);
  const slots = slotRanges
    .filter((range) => !range.startsWith('['))
    .reduce((sum, range) => {
      const [from, to = from] = range.split('-').map(Number) as [number, number?];
      return sum + (to - from + 1);
    }, 0);
  return {
    id,
    port,
    role: flags.includes('master') ? 'master' : 'replica',
    masterId: master === '-' ? null : master,
    failed: /\bfail\b|\bfail\?/.test(flags.replace(/,/g, ' ')),
    slots,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
