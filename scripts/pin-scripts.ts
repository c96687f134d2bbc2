/** Prints the SHA1 of every Lua script, for the pins in test/unit/scripts.test.ts (`npx tsx scripts/pin-scripts.ts`). */
import { createHash } from 'node:crypto';
import { ALL_SCRIPTS } from '../src/adapters/redis/scripts/all.js';
import { applyBatchScript } from '../src/adapters/redis/scripts/apply-batch.js';
import { repairHashScript } from '../src/adapters/redis/scripts/repair-hash.js';

for (const script of [...ALL_SCRIPTS, applyBatchScript, repairHashScript]) {
  console.log(`  ${script.name}: '${createHash('sha1').update(script.lua).digest('hex')}',`);
}
