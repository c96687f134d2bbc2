import { hash, timingSafeEqual } from 'node:crypto';
import type { ApiKey, Scope, UserToken } from './server-config.js';

/** Who a bearer secret belongs to. */
export type Principal =
  | { readonly kind: 'api-key'; readonly name: string; readonly scopes: readonly Scope[] }
  | { readonly kind: 'user'; readonly userId: string };

interface Entry {
  readonly digest: Buffer;
  readonly principal: Principal;
}

/**
 * The configured secrets, kept only as SHA-256 digests. A lookup hashes the presented secret once,
 * finds the entry by its digest, and confirms it with one constant-time compare. What is looked up
 * and compared is the digest, never the secret, so timing tells nothing about which key, or how much
 * of one, matched: the presented secret's bytes decide only its digest, and how much of a digest
 * matches says nothing about the secret. The cost is one hash per request, whatever the number of keys.
 */
export class Credentials {
  readonly #entries: ReadonlyMap<string, Entry>;

  constructor(apiKeys: readonly ApiKey[], userTokens: readonly UserToken[]) {
    const entries: Entry[] = [
      ...apiKeys.map((k) => ({ digest: bytes(digest(k.key)), principal: { kind: 'api-key', name: k.name, scopes: k.scopes } as const })),
      ...userTokens.map((t) => ({ digest: bytes(digest(t.token)), principal: { kind: 'user', userId: t.userId } as const })),
    ];
    // Keyed by the digest as latin1 text (one character per byte: equal keys are equal digests).
    this.#entries = new Map(entries.map((entry) => [entry.digest.toString('latin1'), entry]));
  }

  /** True when no secret is configured at all (the service then refuses every protected route). */
  get empty(): boolean {
    return this.#entries.size === 0;
  }

  /** The principal of a presented secret, or undefined. */
  lookup(secret: string): Principal | undefined {
    const presented = digest(secret);
    const entry = this.#entries.get(presented);
    if (entry === undefined) return undefined;
    return timingSafeEqual(entry.digest, bytes(presented)) ? entry.principal : undefined;
  }
}

function digest(secret: string): string {
  // The one-shot hash into a latin1 ('binary') string: a third of createHash().digest()'s cost (no Hash object, no Buffer).
  return hash('sha256', secret, 'binary');
}

function bytes(latin1: string): Buffer {
  return Buffer.from(latin1, 'latin1');
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header);
  return match?.[1];
}
