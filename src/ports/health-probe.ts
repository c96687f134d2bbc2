/** What a store says about itself. */
export interface StoreHealth {
  /** `redis` or `memory`. */
  readonly store: string;
  /** The server version (Redis `redis_version`), or the package's for the in-memory store. */
  readonly version: string;
}

/** A round trip to the store that touches no user's data. */
export interface HealthProbe {
  /** Writes and reads a dedicated health key; rejects when the store is unreachable. */
  probe(): Promise<StoreHealth>;
}
