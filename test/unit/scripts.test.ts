import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ALL_SCRIPTS } from '../../src/adapters/redis/scripts/all.js';
import { applyBatchScript, batchBody, BATCHABLE } from '../../src/adapters/redis/scripts/apply-batch.js';
import { repairHashScript } from '../../src/adapters/redis/scripts/repair-hash.js';

// The store's scripts, the coalesced batch (spliced from the record and reserve scripts: editing either
// changes its SHA too), and the consistency verifier's (defined by RedisUsageInspector, not the store).
const SCRIPTS = [...ALL_SCRIPTS, applyBatchScript, repairHashScript];

// Pinned so that editing a script is deliberate: change the Lua, bump the versioned name, update the SHA
// (`npx tsx scripts/pin-scripts.ts` prints them).
const PINNED: Record<string, string> = {
  turRecordUsageV10: '1f83e98ee7539ad5e56b7dfd208747b5e6f376e2',
  turReadUsageV4: '9734ef87301617722d98814ac06c384f5b252d72',
  turSetLimitV2: 'c161a0411db5524ae3a65f1f5bf371b8b1b84019',
  turReserveV8: '0eff5eac14ef42124257c3d32e84d3f5ca822e7e',
  turReleaseLeaseV4: 'e8fc9fcab574d1ff76124966f4c4364137afb086',
  turSyncThresholdsV5: '2de0bf865dbf11610e5352d10e46a3d07a475cb9',
  turApplyBatchV3: '8d50658f3cce369109199051fc6274e5d80911cd',
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

  it('splices each batchable body into the batch reading its KEYS and ARGV in place, by offset', () => {
    expect(batchBody("local x = KEYS[3 + i] .. ARGV[10]\nif #ARGV >= 10 then return ARGV[9 + i] end")).toBe(
      'function(KB, AB, NARGS)\nlocal x = KEYS[KB + 3 + i] .. ARGV[AB + 10]\nif NARGS >= 10 then return ARGV[AB + 9 + i] end\nend',
    );
    for (const script of Object.values(BATCHABLE)) expect(() => batchBody(script.body)).not.toThrow();
  });

  it('refuses to splice a body that uses KEYS or ARGV other than by index or #ARGV', () => {
    expect(() => batchBody('for _, key in ipairs(KEYS) do end')).toThrow(/KEYS and ARGV only/);
    expect(() => batchBody('local n = #KEYS')).toThrow(/KEYS and ARGV only/);
  });
});
