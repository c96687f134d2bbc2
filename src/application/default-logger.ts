import { pino } from 'pino';
import type { Logger } from '../ports/logger.js';
import type { LogLevel } from './config.js';

/** The logger used when the host passes none: pino to stdout, with any password field redacted. */
export function createDefaultLogger(level: LogLevel): Logger {
  return pino({
    name: 'token-usage-repository',
    level,
    redact: { paths: ['password', '*.password', '*.*.password'], censor: '[redacted]' },
  });
}
