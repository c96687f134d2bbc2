import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../domain/errors.js';
import { reservationFrom } from '../domain/reservation.js';
import type { Reservation } from '../domain/reservation.js';

/**
 * Turns a reservation into an opaque, signed handle for URLs (`/v1/reservations/{handle}/commit`) and
 * back. The service keeps no per-reservation state, so any replica can commit or release any
 * handle; the HMAC stops a client from altering the user, the cycle or the held tokens.
 */
export class ReservationHandles {
  readonly #key: Buffer;

  /** Without a secret, a random one: handles then do not survive a restart or cross replicas. */
  constructor(secret: string | undefined) {
    this.#key = secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
  }

  /** The handle of a reservation. */
  encode(reservation: Reservation): string {
    const { id, userId, cycleStartDate, tokens, expiresAt, degraded } = reservation;
    const payload = Buffer.from(JSON.stringify([id, userId, cycleStartDate, tokens, expiresAt, degraded]), 'utf8').toString('base64url');
    return `${payload}.${this.#sign(payload)}`;
  }

  /** The reservation of a handle; throws `ValidationError` (`USAGE.INVALID_RESERVATION`) on a forged or malformed one. */
  decode(handle: string, field = 'params.reservation'): Reservation {
    const invalid = (): ValidationError =>
      new ValidationError('USAGE.INVALID_RESERVATION', field, undefined, `${field} is not a reservation handle issued by this service`);
    const [payload, signature, extra] = handle.split('.');
    if (payload === undefined || signature === undefined || extra !== undefined) throw invalid();
    const expected = Buffer.from(this.#sign(payload), 'utf8');
    const presented = Buffer.from(signature, 'utf8');
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) throw invalid();
    let fields: unknown;
    try {
      fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw invalid();
    }
    if (!Array.isArray(fields) || fields.length !== 6) throw invalid();
    const [id, userId, cycleStartDate, tokens, expiresAt, degraded] = fields as unknown[];
    return reservationFrom({ id, userId, cycleStartDate, tokens, expiresAt, degraded }, field);
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#key).update(payload).digest('base64url');
  }
}
