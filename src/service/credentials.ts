import { createHash, timingSafeEqual } from 'node:crypto';
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
 * The configured secrets, kept only as SHA-256 digests. A lookup compares the presented secret's
 * digest with every entry in constant time and never stops early, so timing tells nothing about
 * which key, or how much of one, matched.
 */
export class Credentials {
  readonly #entries: readonly Entry[];

  constructor(apiKeys: readonly ApiKey[], userTokens: readonly UserToken[]) {
    this.#entries = [
      ...apiKeys.map((k) => ({ digest: digest(k.key), principal: { kind: 'api-key', name: k.name, scopes: k.scopes } as const })),
      ...userTokens.map((t) => ({ digest: digest(t.token), principal: { kind: 'user', userId: t.userId } as const })),
    ];
  }

  /** True when no secret is configured at all (the service then refuses every protected route). */
  get empty(): boolean {
    return this.#entries.length === 0;
  }

  /** The principal of a presented secret, or undefined. */
  lookup(secret: string): Principal | undefined {
    const presented = digest(secret);
    let found: Principal | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, presented) && found === undefined) found = entry.principal;
    }
    return found;
  }
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header);
  return match?.[1];
}
