// Values handed from the vitest globalSetup (test/setup/redis.global.ts) to the
// test workers via `project.provide(...)` / `inject(...)`.
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:PORT` of the real Redis for this run, or '' when none. */
    redisUrl: string;
    /** Where that Redis came from: 'testcontainers' | 'redis-server-binary' | 'none'. */
    redisSource: string;
    /** Docker container id when redisSource is 'testcontainers', else ''. */
    redisContainerId: string;
    /** `127.0.0.1:PORT` of each node of the shared 3-master + 3-replica Redis Cluster, or [] when none. */
    redisClusterNodes: string[];
  }
}
