/** Prints the SHA1 of every Lua script, for the pins in test/unit/scripts.test.ts (`npx tsx scripts/pin-scripts.ts`). */
import { createHash } from 'node:crypto';
import { readUsageScript } from '../src/adapters/redis/scripts/read-usage.js';
import { recordUsageScript } from '../src/adapters/redis/scripts/record-usage.js';
import { releaseLeaseScript } from '../src/adapters/redis/scripts/release-lease.js';
import { reserveScript } from '../src/adapters/redis/scripts/reserve.js';
import { setLimitScript } from '../src/adapters/redis/scripts/set-limit.js';

for (const script of [recordUsageScript, readUsageScript, setLimitScript, reserveScript, releaseLeaseScript]) {
  console.log(`  ${script.name}: '${createHash('sha1').update(script.lua).digest('hex')}',`);
}
