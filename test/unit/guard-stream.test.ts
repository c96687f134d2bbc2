import { describe, expect, it } from 'vitest';
import { QuotaExceededError, ValidationError } from '../../src/index.js';
import type { ActualUsage, StreamMeter } from '../../src/index.js';
import { switchableRepository } from '../support/repositories.js';

type Event = { type: 'start'; id: string; input: number } | { type: 'text'; text: string } | { type: 'usage'; input: number; output: number };

/** A meter for the fake events: input from `start`, output counted as characters, final from `usage`. */
function fakeMeter(): StreamMeter<Event> {
  let id: string | undefined;
  let input: number | undefined;
  let chars = 0;
  let final: ActualUsage | undefined;
  return {
    observe(event) {
      if (event.type === 'start') [id, input] = [event.id, event.input];
      else if (event.type === 'text') chars += event.text.length;
      else final = { promptTokens: event.input, completionTokens: event.output };
    },
    finalUsage: () => final,
    partialUsage: () => (input === undefined && chars === 0 ? undefined : { ...(input === undefined ? {} : { promptTokens: input }), completionTokens: chars }),
    responseId: () => id,
  };
}

/** A provider stream fed by the test: `push` an event, `end()`, or `fail(error)`; records its fate. */
function controllableStream(signal: AbortSignal) {
  const queue: Array<{ event?: Event; end?: true; error?: Error }> = [];
  let wake: (() => void) | undefined;
  const fate = { returned: false, aborted: false };
  signal.addEventListener('abort', () => {
    fate.aborted = true;
    wake?.();
  });
  async function* events(): AsyncGenerator<Event> {
    try {
      for (;;) {
        while (queue.length === 0) {
          if (signal.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
          await new Promise<void>((resolve) => (wake = resolve));
        }
        const item = queue.shift() as { event?: Event; end?: true; error?: Error };
        if (item.error !== undefined) throw item.error;
        if (item.end === true) return;
        yield item.event as Event;
      }
    } finally {
      fate.returned = true;
    }
  }
  const feed = (item: { event?: Event; end?: true; error?: Error }): void => {
    queue.push(item);
    wake?.();
  };
  return { iterable: events(), fate, push: (event: Event) => feed({ event }), end: () => feed({ end: true }), fail: (error: Error) => feed({ error }) };
}

function script(events: Event[], end: 'end' | Error = 'end') {
  return async function* (): AsyncGenerator<Event> {
    for (const event of events) yield event;
    if (end !== 'end') throw end;
  };
}

const reserved = async (repo: ReturnType<typeof switchableRepository>['repo']) => (await repo.canConsume('u', 0)).reserved;

describe('guardStream(userId, options, start, meter)', () => {
  it('commits the final usage exactly once when the stream completes, and frees the reservation', async () => {
    const { repo } = switchableRepository();
    const stream = await repo.guardStream('u', { estimateTokens: 500 }, async () => script([{ type: 'start', id: 'r1', input: 40 }, { type: 'text', text: 'hello' }, { type: 'usage', input: 42, output: 7 }])(), fakeMeter());
    expect(await reserved(repo)).toBe(500);
    const seen: string[] = [];
    for await (const event of stream) seen.push(event.type);
    expect(seen).toEqual(['start', 'text', 'usage']);
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 42, completionTokens: 7, totalTokens: 49 });
    expect(await reserved(repo)).toBe(0);
    expect(await stream.settled).toEqual({ end: 'completed', action: 'committed', usage: { promptTokens: 42, completionTokens: 7 }, duplicate: false });
  });

  it('on a consumer break: aborts the request, commits reported input + output so far before the loop exits', async () => {
    const { repo } = switchableRepository();
    let source: ReturnType<typeof controllableStream> | undefined;
    const stream = await repo.guardStream('u', { estimateTokens: 500, promptTokens: 30 }, async (signal) => {
      source = controllableStream(signal);
      return source.iterable;
    }, fakeMeter());
    source?.push({ type: 'start', id: 'r2', input: 41 });
    source?.push({ type: 'text', text: 'abc' });
    for await (const event of stream) if (event.type === 'text') break;
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 41, completionTokens: 3, totalTokens: 44 });
    expect(await reserved(repo)).toBe(0);
    expect(source?.fate).toEqual({ returned: true, aborted: true });
    expect((await stream.settled).end).toBe('abandoned');
  });

  it('an error thrown inside the loop is an abandonment too: committed, then the error propagates', async () => {
    const { repo } = switchableRepository();
    const stream = await repo.guardStream('u', { estimateTokens: 100, promptTokens: 20 }, async () => script([{ type: 'text', text: 'abcd' }, { type: 'text', text: 'never' }])(), fakeMeter());
    const failure = new Error('consumer bug');
    await expect((async () => {
      for await (const _ of stream) throw failure;
    })()).rejects.toBe(failure);
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 20, completionTokens: 4, totalTokens: 24 });
  });

  it('on AbortSignal: settles at once while the consumer waits, charging the local prompt + output so far; never zero', async () => {
    const { repo } = switchableRepository();
    const controller = new AbortController();
    let source: ReturnType<typeof controllableStream> | undefined;
    const stream = await repo.guardStream('u', { estimateTokens: 500, promptTokens: 25, signal: controller.signal }, async (signal) => {
      source = controllableStream(signal);
      return source.iterable;
    }, fakeMeter());
    source?.push({ type: 'text', text: 'partial' });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const pending = iterator.next();
    controller.abort();
    expect(await stream.settled).toMatchObject({ end: 'aborted', action: 'committed', usage: { promptTokens: 25, completionTokens: 7 } });
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 25, completionTokens: 7, totalTokens: 32 });
    expect(await reserved(repo)).toBe(0);
  });

  it('stream.abort() with nothing known charges the estimate (input was sent), not zero', async () => {
    const { repo } = switchableRepository();
    let source: ReturnType<typeof controllableStream> | undefined;
    const stream = await repo.guardStream('u', { estimateTokens: 80 }, async (signal) => {
      source = controllableStream(signal);
      return source.iterable;
    }, fakeMeter());
    expect(await stream.abort()).toMatchObject({ end: 'aborted', action: 'committed', usage: { totalTokens: 80 } });
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 80 });
    expect(source?.fate.aborted).toBe(true);
  });

  it('a provider error mid-stream commits what was used and rethrows; a later next() changes nothing', async () => {
    const { repo } = switchableRepository();
    const failure = new Error('connection reset');
    const stream = await repo.guardStream('u', { estimateTokens: 100, promptTokens: 9 }, async () => script([{ type: 'start', id: 'r3', input: 10 }, { type: 'text', text: 'ab' }], failure)(), fakeMeter());
    const seen: string[] = [];
    await expect((async () => {
      for await (const event of stream) seen.push(event.type);
    })()).rejects.toBe(failure);
    expect(seen).toEqual(['start', 'text']);
    expect(await stream.settled).toMatchObject({ end: 'error', action: 'committed', usage: { promptTokens: 10, completionTokens: 2 } });
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 10, completionTokens: 2, totalTokens: 12 });
  });

  it('a stream that completes without usage is charged the estimate, as guard does', async () => {
    const { repo } = switchableRepository();
    const stream = await repo.guardStream('u', { estimateTokens: 70 }, async () => script([])(), fakeMeter());
    for await (const _ of stream) void _;
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 70 });
  });

  it('is keyed by the provider response id: the same response committed twice counts once', async () => {
    const { repo } = switchableRepository();
    for (let i = 0; i < 2; i += 1) {
      const stream = await repo.guardStream('u', { estimateTokens: 100 }, async () => script([{ type: 'start', id: 'resp-same', input: 5 }, { type: 'usage', input: 5, output: 5 }])(), fakeMeter());
      for await (const _ of stream) void _;
      expect((await stream.settled).duplicate).toBe(i === 1);
    }
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 5, completionTokens: 5, totalTokens: 10 });
    expect(await reserved(repo)).toBe(0);
  });

  it('a denied reservation throws QuotaExceededError and never opens the stream', async () => {
    const { repo } = switchableRepository();
    await repo.setUsageLimit('u', 50);
    let opened = false;
    const error = await repo.guardStream('u', { estimateTokens: 60 }, async () => {
      opened = true;
      return script([])();
    }, fakeMeter()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(opened).toBe(false);
  });

  it('releases when the stream cannot be opened (a provider 500), and rethrows', async () => {
    const { repo } = switchableRepository();
    const failure = new Error('500');
    await expect(repo.guardStream('u', { estimateTokens: 60 }, async () => Promise.reject(failure), fakeMeter())).rejects.toBe(failure);
    expect(await reserved(repo)).toBe(0);
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it('a store failure at settlement is a failed settlement (logged), not an error in the consumer loop', async () => {
    const { repo, store, logger } = switchableRepository();
    const stream = await repo.guardStream('u', { estimateTokens: 60 }, async () => script([{ type: 'usage', input: 1, output: 1 }])(), fakeMeter());
    store.down = true;
    for await (const _ of stream) void _;
    expect(await stream.settled).toMatchObject({ end: 'completed', action: 'failed' });
    expect(logger.lines.some((line) => line.message?.includes('could not settle a guarded stream') === true)).toBe(true);
  });

  it('rejects bad options and meters with ValidationError before reserving', async () => {
    const { repo } = switchableRepository();
    const start = async () => script([])();
    await expect(repo.guardStream('u', { estimateTokens: -1 }, start, fakeMeter())).rejects.toBeInstanceOf(ValidationError);
    await expect(repo.guardStream('u', { estimateTokens: 1 }, start, {} as StreamMeter<Event>)).rejects.toMatchObject({ field: 'meter.observe' });
    await expect(repo.guardStream('u', null as never, start, fakeMeter())).rejects.toBeInstanceOf(ValidationError);
    expect(await reserved(repo)).toBe(0);
  });
});
