import dgram from 'node:dgram';
import type { Transport } from '../../runtime/transport/index.js';

export interface Packet {
  bytes: Uint8Array;
  from: string;
}

/** Records everything a transport receives. */
export function collect(t: Transport): Packet[] {
  const got: Packet[] = [];
  t.onPacket((bytes, from) => got.push({ bytes: Uint8Array.from(bytes), from }));
  return got;
}

/** Polls `predicate` until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A UDP port free right now (bind to 0, read it, release it). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A random administratively scoped group, so concurrent runs on one host do not hear each other. */
export function randomGroup(): string {
  const byte = (): number => 1 + Math.floor(Math.random() * 254);
  return `239.255.${byte()}.${byte()}`;
}
