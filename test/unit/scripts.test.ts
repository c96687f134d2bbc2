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
  turRecordUsageV5: 'd678dc5c702562e9eaaa673410e06416b3edc149',
  turReadUsageV3: '2c6edea7fb367fd99ab521694282a9900b6b34b9',
  turSetLimitV1: '665e3e6a7cdc8b92876f5cddbd8b2c93f4727fd5',
  turReserveV4: 'fda3ac3772c6133a9e10f70e76bad4edc40fcb0d',
  turReleaseLeaseV2: '0f301fa57dbfb25e18947152d28c5f1ea2675fc8',
  turSyncThresholdsV3: '0e3cfa2e6b16e9dfc8d35e181cd7b9f6f7751269',
  turApplyBatchV1: 'faed444cbf44bad4170ae3002ef9063f0925f384',
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
