import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import { booleanOption, integerOption, parseOptions } from '../../src/domain/options.js';

/*
 * parseOptions finds unknown names with getOwnPropertyNames + getOwnPropertySymbols (cheaper than
 * Reflect.ownKeys in V8): every own key still counts, hidden or symbol, and the first one named in an
 * error is Reflect.ownKeys's first unknown one.
 */

const SPEC = { batchSize: integerOption(1, 10), repair: booleanOption } as const;

function error(run: () => unknown): ValidationError {
  try {
    run();
  } catch (caught) {
    if (caught instanceof ValidationError) return caught;
    throw caught;
  }
  throw new Error('expected a ValidationError');
}

describe('parseOptions unknown names', () => {
  it('refuses a non-enumerable own property', () => {
    const options = Object.defineProperty({ batchSize: 2 }, 'hidden', { value: 1, enumerable: false });
    expect(error(() => parseOptions(options, SPEC)).message).toContain('unknown option hidden');
  });

  it('refuses a symbol key, also a non-enumerable one', () => {
    const tag = Symbol('tag');
    expect(error(() => parseOptions({ batchSize: 2, [tag]: 1 }, SPEC)).message).toContain('unknown option Symbol(tag)');
    const hidden = Object.defineProperty({}, tag, { value: 1, enumerable: false });
    expect(error(() => parseOptions(hidden, SPEC)).message).toContain('unknown option Symbol(tag)');
  });

  it('names the first unknown key in Reflect.ownKeys order (strings before symbols)', () => {
    const options = { [Symbol('first-written')]: 1, later: 2, batchSize: 3 };
    expect(Reflect.ownKeys(options)[0]).toBe('later');
    expect(error(() => parseOptions(options, SPEC)).message).toContain('unknown option later');
  });

  it('reads each known option once, in the spec order, and skips undefined ones', () => {
    const reads: string[] = [];
    const options = {
      get repair() {
        reads.push('repair');
        return true;
      },
      get batchSize() {
        reads.push('batchSize');
        return 3;
      },
    };
    expect(parseOptions(options, SPEC)).toEqual({ batchSize: 3, repair: true });
    expect(reads).toEqual(['batchSize', 'repair']);
    expect(parseOptions({ batchSize: undefined }, SPEC)).toEqual({});
  });
});
