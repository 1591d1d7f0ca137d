import { MemorySink } from '../../src/codec/page-sink.ts';
import { loadNativeMemory } from '../../src/accel/native-memory.ts';
import { PostcopyReceiver } from '../../src/postcopy/receiver.ts';
import { systemClock } from '../../src/util/clock.ts';
import type { DirtyBitmap, GuestMemory } from '../../src/index.ts';
import { describePageSinkCompliance, type SinkUnderTest } from './page-sink-compliance.ts';

/**
 * Every PageSink runs the compliance suite: pre-copy's MemorySink, and the post-copy receiver
 * both writing through memory (a cooperative guest) and through userfaultfd (an unmodified
 * guest blocked in the kernel).
 */

describePageSinkCompliance({
  name: 'MemorySink',
  wants: 'every page',
  create: (memory): SinkUnderTest => ({ sink: new MemorySink(memory) }),
});

/** The receiver as post-copy starts: the source's missing-page maps applied, before the guest runs. */
function receiver(memory: GuestMemory, missing: readonly DirtyBitmap[]): PostcopyReceiver {
  const r = new PostcopyReceiver(memory, systemClock, () => {});
  missing.forEach((m, region) => {
    r.markMissing(region, 0, m);
  });
  return r;
}

describePageSinkCompliance({
  name: 'PostcopyReceiver, writing through memory',
  wants: 'missing pages',
  create(memory, missing): SinkUnderTest {
    const sink = receiver(memory, missing);
    return { sink, missingPages: () => sink.missingPages };
  },
});

const native = loadNativeMemory();
const uffd = 'error' in native ? { available: false, reason: native.error.message } : native.binding.missingFaultSupport();
describePageSinkCompliance({
  name: 'PostcopyReceiver, writing through userfaultfd',
  unsupported: uffd.available ? undefined : (uffd.reason ?? 'unavailable'),
  backing: 'mapped',
  wants: 'missing pages',
  create(memory, missing): SinkUnderTest {
    const sink = receiver(memory, missing);
    sink.useUserfaultfd();
    return {
      sink,
      missingPages: () => sink.missingPages,
      // Missing pages are registered: reading one here would block this thread until it arrives. Let go first.
      settle: () => sink.close(),
    };
  },
});
