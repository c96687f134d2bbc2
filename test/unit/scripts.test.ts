import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readUsageScript } from '../../src/adapters/redis/scripts/read-usage.js';
import { recordUsageScript } from '../../src/adapters/redis/scripts/record-usage.js';
import { setLimitScript } from '../../src/adapters/redis/scripts/set-limit.js';

// Pinned so that editing a script is deliberate: change the Lua, bump the versioned name, update the SHA.
const PINNED: Record<string, string> = {
  turRecordUsageV1: '0f1d91974038ba54135b3e3ec17621c93c639c48',
  turReadUsageV1: 'ce15f10adac64220830d28840cf8fa8eea6aca3f',
  turSetLimitV1: '665e3e6a7cdc8b92876f5cddbd8b2c93f4727fd5',
};

describe('Lua scripts', () => {
  it.each([recordUsageScript, readUsageScript, setLimitScript])('$name has its pinned SHA1', (script) => {
    expect(createHash('sha1').update(script.lua).digest('hex')).toBe(PINNED[script.name]);
  });

  it.each([recordUsageScript, readUsageScript, setLimitScript])('$name documents every KEYS and ARGV slot it uses', (script) => {
    const header = script.lua.slice(0, script.lua.indexOf(']]'));
    for (const [, slot] of script.lua.matchAll(/((?:KEYS|ARGV)\[\d+\])/g)) {
      expect(header).toContain(slot);
    }
    expect(header).toContain('Reply:');
    for (let i = 1; i <= script.numberOfKeys; i += 1) expect(header).toContain(`KEYS[${i}]`);
  });
});
