import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ALL_SCRIPTS } from '../../src/adapters/redis/scripts/all.js';
import { applyBatchScript } from '../../src/adapters/redis/scripts/apply-batch.js';
import { repairHashScript } from '../../src/adapters/redis/scripts/repair-hash.js';

// The store's scripts, the coalesced batch (spliced from the record and reserve scripts: editing either
// changes its SHA too), and the consistency verifier's (defined by RedisUsageInspector, not the store).
const SCRIPTS = [...ALL_SCRIPTS, applyBatchScript, repairHashScript];

// Pinned so that editing a script is deliberate: change the Lua, bump the versioned name, update the SHA
// (`npx tsx scripts/pin-scripts.ts` prints them).
const PINNED: Record<string, string> = {
  turRecordUsageV8: '0d008c3445d2711efd2ceb8b1bf7e5e4ad921a64',
  turReadUsageV4: '9734ef87301617722d98814ac06c384f5b252d72',
  turSetLimitV2: 'c161a0411db5524ae3a65f1f5bf371b8b1b84019',
  turReserveV7: '31f653e2e18ca6122d27b54148556105b0166b27',
  turReleaseLeaseV3: '08b9d9fc7213b2daf984a22f8eef631b1d4c740a',
  turSyncThresholdsV4: '4c52782024f6252a2b4ccbf92d2e63f65162c98b',
  turApplyBatchV2: '4c629b85781e3143b7a5e4c1e3822dcd5b553b9a',
  turRepairHashV1: '68ead592df9a7be447be0ea10c885fc725e00aa4',
};

describe('Lua scripts', () => {
  it('pins every script, under a unique versioned name', () => {
    expect(Object.keys(PINNED).sort()).toEqual(SCRIPTS.map((script) => script.name).sort());
    for (const script of SCRIPTS) expect(script.name).toMatch(/^tur[A-Z]\w+V\d+$/);
  });

  it.each(SCRIPTS)('$name has its pinned SHA1', (script) => {
    expect(createHash('sha1').update(script.lua).digest('hex')).toBe(PINNED[script.name]);
  });

  it.each(SCRIPTS)('$name documents every KEYS and ARGV slot it uses', (script) => {
    const header = script.lua.slice(0, script.lua.indexOf(']]'));
    for (const [, slot] of script.lua.matchAll(/((?:KEYS|ARGV)\[\d+\])/g)) {
      expect(header).toContain(slot);
    }
    expect(header).toContain('Reply:');
    for (let i = 1; i <= script.numberOfKeys; i += 1) expect(header).toContain(`KEYS[${i}]`);
  });
});
