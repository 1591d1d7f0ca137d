/**
 * A small seeded generator (mulberry32 over a splitmix-mixed seed): every choice a trial makes
 * follows from its seed, so `--seed N --trial K` makes the same choices again.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = mix32(seed >>> 0);
  }

  /** The generator of trial `trial` of the campaign seeded `seed` (`stream` separates independent uses). */
  static forTrial(seed: number, trial: number, stream = 0): Rng {
    return new Rng(trialSeed(seed, trial) ^ Math.imul(stream + 1, 0x9e37_79b9));
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.state = (this.state + 0x6d2b_79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 2 ** 32;
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** The seed of one trial: its campaign seed and index mixed, so neighbouring trials share nothing. */
export function trialSeed(seed: number, trial: number): number {
  return mix32((mix32(seed >>> 0) ^ Math.imul(trial + 1, 0x85eb_ca6b)) >>> 0);
}

function mix32(x: number): number {
  let z = (x + 0x9e37_79b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85eb_ca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2_ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
