/**
 * The kinds of value the entry points' options take, as valibot schemas whose messages say what
 * is wanted ("must be an integer in 1..16"); `option-checks.ts` puts them together per entry
 * point and turns the first failure into a `FERRY_INVALID_ARGUMENT` naming the option.
 */
import * as v from 'valibot';
import { GuestMemory } from '../memory/guest-memory.ts';
import { checkLayout } from '../memory/layout.ts';
import { MAX_GUEST_ID_BYTES, MAX_PAGE_SIZE, MIN_PAGE_SIZE } from '../protocol/limits.ts';

export type OptionSchema = v.GenericSchema;

/** The longest delay a Node timer takes: a longer one fires at once. */
export const MAX_TIMER_MS: number = 2 ** 31 - 1;

export function integerIn(min: number, max: number): OptionSchema {
  const m = `must be an integer in ${min}..${max}`;
  return v.pipe(v.number(m), v.integer(m), v.minValue(min, m), v.maxValue(max, m));
}

export function positiveInteger(): OptionSchema {
  const m = 'must be a positive integer';
  return v.pipe(v.number(m), v.safeInteger(m), v.minValue(1, m));
}

/** A count of bytes: an integer in 0..max (max: any safe integer). */
export function byteCount(max: number = Number.MAX_SAFE_INTEGER): OptionSchema {
  const m = max === Number.MAX_SAFE_INTEGER ? 'must be a whole number of bytes, 0 or more' : `must be a whole number of bytes in 0..${max}`;
  return v.pipe(v.number(m), v.safeInteger(m), v.minValue(0, m), v.maxValue(max, m));
}

/** A finite number, 0 or more (`positive`: more than 0). */
export function finiteNumber(sign: 'non-negative' | 'positive', unit: string): OptionSchema {
  const m = `must be a ${sign} finite number${unit}`;
  return v.pipe(v.number(m), v.finite(m), sign === 'positive' ? v.gtValue(0, m) : v.minValue(0, m));
}

/** A delay handed to a timer: more than 0 (`positive`) or 0 or more, and at most MAX_TIMER_MS. */
export function durationMs(sign: 'non-negative' | 'positive'): OptionSchema {
  const m = `must be a ${sign} number of milliseconds, at most ${MAX_TIMER_MS}`;
  return v.pipe(v.number(m), v.finite(m), sign === 'positive' ? v.gtValue(0, m) : v.minValue(0, m), v.maxValue(MAX_TIMER_MS, m));
}

/** One of the keys of `values` (a record, so that the type checker sees every member listed). */
export function oneOf(values: Readonly<Record<string, true>>): OptionSchema {
  const names = Object.keys(values);
  return v.picklist(names, `must be one of ${names.join(', ')}`);
}

/** A list of distinct keys of `values` (possibly empty). */
export function someOf(values: Readonly<Record<string, unknown>>): OptionSchema {
  const names = Object.keys(values);
  const m = `must be an array of ${names.join(', ')} (each at most once)`;
  return v.pipe(
    v.array(v.picklist(names, m), m),
    v.check((list) => new Set(list).size === list.length, m),
  );
}

export const flag: OptionSchema = v.boolean('must be true or false');
export const callback: OptionSchema = v.function('must be a function');

export const hostName: OptionSchema = v.pipe(v.string('must be a host name or address'), v.minLength(1, 'must be a host name or address'));

export const guestId: OptionSchema = v.pipe(
  v.string(`must be a string of at most ${MAX_GUEST_ID_BYTES} UTF-8 bytes`),
  v.check((s) => Buffer.byteLength(s) <= MAX_GUEST_ID_BYTES, `must be a string of at most ${MAX_GUEST_ID_BYTES} UTF-8 bytes`),
);

export const psk: OptionSchema = v.custom<Uint8Array>(
  (x) => x instanceof Uint8Array && x.byteLength > 0,
  'must be a non-empty Uint8Array (the pre-shared key)',
);

function isPem(x: unknown): boolean {
  return typeof x === 'string' || x instanceof Uint8Array;
}

export const tls: OptionSchema = v.object(
  {
    key: v.custom(isPem, 'must be PEM text (a string or a Buffer)'),
    cert: v.custom(isPem, 'must be PEM text (a string or a Buffer)'),
    ca: v.custom(
      (x) => isPem(x) || (Array.isArray(x) && x.length > 0 && x.every(isPem)),
      'must be PEM text (a string or a Buffer) or a non-empty list of them',
    ),
    servername: v.optional(v.string('must be a string')),
  },
  'must be { key, cert, ca } (PEM, a string or a Buffer each)',
);

export const abortSignal: OptionSchema = v.instance(AbortSignal, 'must be an AbortSignal');

export const clock: OptionSchema = v.object({ nowMs: callback }, 'must be a Clock ({ nowMs() })');

/** An object whose `required` members are functions and whose `optional` ones are functions if present. */
export function hooks(what: string, required: readonly string[], optional: readonly string[]): OptionSchema {
  const entries: Record<string, OptionSchema> = {};
  for (const name of required) entries[name] = callback;
  for (const name of optional) entries[name] = v.optional(callback);
  return v.object(entries, `must be ${what} with ${listed(required)} as functions`);
}

export const kernels: OptionSchema = v.object(
  {
    name: v.picklist(['native', 'js'], 'must be native or js'),
    hashPages: callback,
    scanPages: callback,
    fingerprintPages: callback,
    xxh64: callback,
    xbzrleEncode: callback,
    xbzrleDecode: callback,
    fingerprintPagesAsync: v.optional(callback),
    scanPagesAsync: v.optional(callback),
    hashPagesAsync: v.optional(callback),
  },
  'must be Kernels (from loadKernels())',
);

export const dirtyTracker: OptionSchema = v.object(
  {
    kind: v.string('must be a string'),
    start: callback,
    sync: callback,
    stop: callback,
    syncRange: v.optional(callback),
  },
  'must implement DirtyTracker (kind, start, sync, stop)',
);

/**
 * Guest memory the engine can read while a guest in another thread writes it: a GuestMemory
 * whose regions are SharedArrayBuffers or mappings of the addon (still mapped).
 */
export const guestMemory: OptionSchema = v.pipe(
  v.custom<GuestMemory>((x) => x instanceof GuestMemory, 'must be a GuestMemory (GuestMemory.create, wrap or map)'),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const r of (dataset.value as GuestMemory).regions) {
      if (r.mapping !== undefined && r.bytes.byteLength !== r.sizeBytes) {
        addIssue({ message: `has region '${r.name}' unmapped (memory.unmap() was called)` });
        return;
      }
      if (r.mapping === undefined && !(r.bytes.buffer instanceof SharedArrayBuffer)) {
        addIssue({
          message:
            `has region '${r.name}' over a plain ArrayBuffer, which a guest in another thread cannot share; ` +
            'give it a SharedArrayBuffer (GuestMemory.create, or wrap one) or map it (GuestMemory.map)',
        });
        return;
      }
    }
  }),
);

/** A MemoryLayout that `checkLayout` accepts (`memory.layout`). */
export const memoryLayout: OptionSchema = v.pipe(
  v.object(
    {
      pageSize: v.number('must be a number'),
      regions: v.array(
        v.object({ name: v.string('must be a string'), sizeBytes: v.number('must be a number') }, 'must be { name, sizeBytes }'),
        'must be an array of { name, sizeBytes }',
      ),
    },
    'must be a MemoryLayout ({ pageSize, regions: [{ name, sizeBytes }] }, such as memory.layout)',
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      checkLayout(dataset.value as Parameters<typeof checkLayout>[0]);
    } catch (err) {
      addIssue({ message: `is not a layout a guest can have: ${(err as Error).message}` });
    }
  }),
);

export const pageSizes: OptionSchema = v.pipe(
  v.array(
    v.custom<number>(
      (x) => typeof x === 'number' && Number.isInteger(x) && x >= MIN_PAGE_SIZE && x <= MAX_PAGE_SIZE && (x & (x - 1)) === 0,
      `must be a power of two in ${MIN_PAGE_SIZE}..${MAX_PAGE_SIZE}`,
    ),
    'must be an array of page sizes',
  ),
  v.minLength(1, 'must list at least one page size'),
);

/** "a, b and c". */
export function listed(names: readonly string[]): string {
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}
