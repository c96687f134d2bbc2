import { readUsageScript } from './read-usage.js';
import { recordUsageScript } from './record-usage.js';
import { releaseLeaseScript } from './release-lease.js';
import { reserveScript } from './reserve.js';
import type { RedisScript } from './script.js';
import { setLimitScript } from './set-limit.js';
import { syncThresholdsScript } from './sync-thresholds.js';

/** Every script the package defines on a client (`defineCommand`); the SHA pin test covers each. */
export const ALL_SCRIPTS: readonly RedisScript[] = [
  recordUsageScript,
  readUsageScript,
  setLimitScript,
  reserveScript,
  releaseLeaseScript,
  syncThresholdsScript,
];
