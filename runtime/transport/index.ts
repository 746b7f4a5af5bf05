export { TransportError } from './errors.js';
export { MemoryHub, MemoryTransport } from './memory.js';
export type { TcpOptions, TcpStats, TcpTransport } from './tcp.js';
export { tcp } from './tcp.js';
export type { Transport, TransportStats } from './types.js';
export type { UdpOptions } from './udp.js';
export { UDP_MAX_PAYLOAD, udp } from './udp.js';
