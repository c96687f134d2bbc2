import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ALL_SCRIPTS } from '../../src/adapters/redis/scripts/all.js';
import { repairHashScript } from '../../src/adapters/redis/scripts/repair-hash.js';

// The store's scripts, plus the consistency verifier's (defined by RedisUsageInspector, not the store).
const SCRIPTS = [...ALL_SCRIPTS, repairHashScript];

// Pinned so that editing a script is deliberate: change the Lua, bump the versioned name, update the SHA
// (`npx tsx scripts/pin-scripts.ts` prints them).
const PINNED: Record<string, string> = {
  turRecordUsageV6: '83d9d82e23e4cdb7bcfe90775dcf9e812d6b2efc',
  turReadUsageV2: 'cc40c1593a6827adc096ccb03895fa24d7543a19',
  turSetLimitV2: 'c161a0411db5524ae3a65f1f5bf371b8b1b84019',
  turReserveV3: 'e2f04adb559bc1cf0144ec2f8fb0a0e7f8772d70',
  turReleaseLeaseV1: '57ac050124e5d906c194cdafbd8dd3b0a46c4a32',
  turSyncThresholdsV3: '0e3cfa2e6b16e9dfc8d35e181cd7b9f6f7751269',
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
