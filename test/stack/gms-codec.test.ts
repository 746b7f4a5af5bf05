import { describe, expect, it } from 'vitest';
import {
  abandonHeader,
  confirmHeader,
  dataHeader,
  digestHeader,
  fetchHeader,
  flushOkHeader,
  forwardHeader,
  foundHeader,
  GmsKind,
  heartbeatHeader,
  hereHeader,
  installHeader,
  joinHeader,
  leaveHeader,
  lineageHeader,
  pingHeader,
  pongHeader,
  prepareHeader,
  suspectHeader,
  syncHeader,
  viewTagHeader,
} from '../../runtime/layers/gms/codec.js';
import { DecodeError } from '../../runtime/wire/errors.js';

/** Every gms header as it travels: the tuples gms.ts built by hand before the codecs existed
 * (docs/protocol.md, "gms"). A codec that changes one of them changes the wire. */
/** The Install a Sync names and a promise carries. */
const INSTALL = {
  newViewId: 4,
  attempt: 2,
  members: ['a'],
  addresses: ['x:1'],
  joined: ['a'],
  left: [],
  failed: [],
  nakNext: [['a', 9] as const],
  epoch: 12286,
};

const WIRE: [string, unknown[], unknown[], unknown][] = [
  ['Data', dataHeader.encode({ viewId: 3, epoch: 8195, vseq: 7 }), [0, 3, 8195, 7], dataHeader],
  [
    'Heartbeat',
    heartbeatHeader.encode({ viewId: 3, epoch: 8195, highestKey: 2, stuck: true }),
    [1, 3, 8195, 2, 1],
    heartbeatHeader,
  ],
  [
    'Prepare',
    prepareHeader.encode({ newViewId: 4, attempt: 2, members: ['a', 'b'], addresses: ['x:1', 'y:2'] }),
    [2, 4, 2, ['a', 'b'], ['x:1', 'y:2']],
    prepareHeader,
  ],
  [
    'Digest',
    digestHeader.encode({
      newViewId: 4,
      attempt: 2,
      held: [
        ['a', 5],
        ['b', 0],
      ],
      nakNext: 17,
    }),
    [
      3,
      4,
      2,
      [
        ['a', 5],
        ['b', 0],
      ],
      17,
    ],
    digestHeader,
  ],
  [
    'Sync',
    syncHeader.encode({
      newViewId: 4,
      attempt: 2,
      ends: [
        { sender: 'a', count: 5, holder: 'b' },
        { sender: 'b', count: 0, holder: 'a' },
      ],
      install: INSTALL,
    }),
    [
      4,
      4,
      2,
      [
        ['a', 5, 'b'],
        ['b', 0, 'a'],
      ],
      [8, 4, 2, ['a'], ['x:1'], ['a'], [], [], [['a', 9]], 12286],
    ],
    syncHeader,
  ],
  [
    'Fetch',
    fetchHeader.encode({ viewId: 3, epoch: 8195, sender: 'a', from: 2, to: 4 }),
    [5, 3, 8195, 'a', 2, 4],
    fetchHeader,
  ],
  [
    'Forward',
    forwardHeader.encode({ viewId: 3, epoch: 8195, sender: 'a', vseq: 2 }),
    [6, 3, 8195, 'a', 2],
    forwardHeader,
  ],
  ['FlushOk', flushOkHeader.encode({ newViewId: 4, attempt: 2 }), [7, 4, 2], flushOkHeader],
  [
    'Install',
    installHeader.encode({
      newViewId: 4,
      attempt: 2,
      members: ['a', 'c'],
      addresses: ['x:1', 'z:3'],
      joined: ['c'],
      left: [],
      failed: ['b'],
      nakNext: [['a', 9]],
      epoch: 12286,
    }),
    [8, 4, 2, ['a', 'c'], ['x:1', 'z:3'], ['c'], [], ['b'], [['a', 9]], 12286],
    installHeader,
  ],
  [
    'Join',
    joinHeader.encode({ vote: 'a', nonce: '0f0e', counts: true, challenge: '7c1d', echo: ['5e2a'] }),
    [9, 'a', '0f0e', 1, '7c1d', ['5e2a']],
    joinHeader,
  ],
  [
    'Here',
    hereHeader.encode({ viewId: 3, coordinator: 'a', address: 'x:1', nonce: '0f0e', echo: '7c1d' }),
    [10, 3, 'a', 'x:1', '0f0e', '7c1d'],
    hereHeader,
  ],
  ['Leave', leaveHeader.encode({ viewId: 3 }), [11, 3], leaveHeader],
  [
    'Suspect',
    suspectHeader.encode({ viewId: 3, member: 'b', heldMs: 250 }),
    [12, 3, 'b', 250],
    suspectHeader,
  ],
  ['P2P', viewTagHeader.encode(GmsKind.P2P, { viewId: 3, epoch: 8195 }), [13, 3, 8195], viewTagHeader],
  [
    'Unreliable',
    viewTagHeader.encode(GmsKind.Unreliable, { viewId: 3, epoch: 8195 }),
    [14, 3, 8195],
    viewTagHeader,
  ],
  ['Abandon', abandonHeader.encode({ newViewId: 4, attempt: 2 }), [15, 4, 2], abandonHeader],
  ['Found', foundHeader.encode({ epoch: 77 }), [16, 77], foundHeader],
  [
    'Found',
    foundHeader.encode({ epoch: 77, proposal: { members: ['a.1', 'b.1'], addresses: ['x:1', 'x:2'] } }),
    [16, 77, ['a.1', 'b.1'], ['x:1', 'x:2']],
    foundHeader,
  ],
  ['Confirm', confirmHeader.encode({ epoch: 77 }), [17, 77], confirmHeader],
  [
    'Confirm',
    confirmHeader.encode({
      epoch: 77,
      last: { members: ['a.1', 'b.1'], addresses: ['x:1', 'x:2'], self: 'a.1' },
    }),
    [17, 77, [['a.1', 'b.1'], ['x:1', 'x:2'], 'a.1']],
    confirmHeader,
  ],
  [
    'Lineage',
    lineageHeader.encode({ viewId: 9, epoch: 8195, coordinator: 'a', address: 'x:1' }),
    [18, 9, 8195, 'a', 'x:1'],
    lineageHeader,
  ],
  ['Ping', pingHeader.encode({ viewId: 3, epoch: 8195, nonce: 7 }), [19, 3, 8195, 7], pingHeader],
  ['Pong', pongHeader.encode({ viewId: 3, epoch: 8195, nonce: 7 }), [20, 3, 8195, 7], pongHeader],
];

describe('gms header codecs', () => {
  it.each(WIRE)('%s encodes to the documented tuple, under its GmsKind', (name, got, want) => {
    expect(got).toEqual(want);
    expect(got[0]).toBe(GmsKind[name as keyof typeof GmsKind]);
  });

  it('covers every kind', () => {
    expect([...new Set(WIRE.map(([name]) => name))].sort()).toEqual(Object.keys(GmsKind).sort());
  });

  it('decodes a Found with its proposal, and refuses one whose lists disagree', () => {
    expect(foundHeader.decode([16, 77, ['a.1', 'b.1'], ['x:1', 'x:2']])).toEqual({
      epoch: 77,
      proposal: { members: ['a.1', 'b.1'], addresses: ['x:1', 'x:2'] },
    });
    expect(foundHeader.decode([16, 77])).toEqual({ epoch: 77 });
    expect(() => foundHeader.decode([16, 77, ['a.1'], ['x:1', 'x:2']])).toThrow(DecodeError);
    expect(() => foundHeader.decode([16, 77, [], []])).toThrow(DecodeError);
    expect(() => foundHeader.decode([16, 77, [5], ['x:1']])).toThrow(DecodeError);
  });

  it('decodes what it encodes', () => {
    expect(dataHeader.decode([0, 3, 8195, 7])).toEqual({ viewId: 3, epoch: 8195, vseq: 7 });
    expect(heartbeatHeader.decode([1, 3, 8195, 2, 1])).toEqual({
      viewId: 3,
      epoch: 8195,
      highestKey: 2,
      stuck: true,
    });
    // Prepare's addresses are checked as a list, not handed out (participants never read them).
    expect(prepareHeader.decode([2, 4, 2, ['a'], ['x:1']])).toEqual({
      newViewId: 4,
      attempt: 2,
      members: ['a'],
    });
    expect(syncHeader.decode([4, 4, 2, [['a', 5, 'b']], installHeader.encode(INSTALL)]).ends).toEqual([
      { sender: 'a', count: 5, holder: 'b' },
    ]);
    expect(installHeader.decode([8, 4, 2, ['a'], ['x:1'], ['a'], [], [], [['a', 9]], 12286])).toEqual(
      INSTALL,
    );
    expect(suspectHeader.decode([12, 3, 'b', 250])).toEqual({ viewId: 3, member: 'b', heldMs: 250 });
    const promised = { coord: 'c', attempt: 1, cut: [['a', 4] as const], key: 8191, install: INSTALL };
    const digest = { newViewId: 4, attempt: 2, held: [['a', 5] as const], nakNext: 9, promised };
    expect(digestHeader.decode(digestHeader.encode(digest))).toEqual(digest);
  });

  it('reads the optional trailing fields of older senders as absent', () => {
    expect(heartbeatHeader.decode([1, 3, 8195])).toEqual({
      viewId: 3,
      epoch: 8195,
      highestKey: 0,
      stuck: false,
    });
    expect(suspectHeader.decode([12, 3, 'b']).heldMs).toBe(0);
    expect(joinHeader.decode([9])).toEqual({ vote: '', nonce: '', counts: true, challenge: '', echo: [] });
    expect(joinHeader.decode([9, 'a', 'n', 1]).challenge).toBe('');
    expect(hereHeader.decode([10, 3, 'a', 'x:1', 'n']).echo).toBe('');
    expect(confirmHeader.decode([17, 77])).toEqual({ epoch: 77 });
    expect(joinHeader.decode([9, 'a']).nonce).toBe('');
    expect(hereHeader.decode([10, 3, 'a', 'x:1']).nonce).toBe('');
    expect(digestHeader.decode([3, 4, 2, [['a', 5]], 9]).promised).toBeUndefined();
  });

  it.each([
    ['a short Data', () => dataHeader.decode([0, 3, 8195])],
    ['a negative vseq', () => dataHeader.decode([0, 3, 8195, -1])],
    ['a Digest entry without a count', () => digestHeader.decode([3, 4, 2, [['a']], 0])],
    ['a Digest promise without its key', () => digestHeader.decode([3, 4, 2, [], 0, ['c', 1, []]])],
    [
      'a Sync holder that is not a string',
      () => syncHeader.decode([4, 4, 2, [['a', 1, 7]], installHeader.encode(INSTALL)]),
    ],
    ['a Sync without the Install it will send', () => syncHeader.decode([4, 4, 2, [['a', 1, 'b']], 0])],
    [
      'a Sync naming an Install of another view',
      () => syncHeader.decode([4, 4, 2, [], installHeader.encode({ ...INSTALL, newViewId: 5 })]),
    ],
    ['a Digest promise without its Install', () => digestHeader.decode([3, 4, 2, [], 0, ['c', 1, [], 8191]])],
    [
      'an Install with fewer addresses than members',
      () => installHeader.decode([8, 4, 2, ['a', 'b'], ['x:1'], [], [], [], [], 1]),
    ],
    ['an Install with no members', () => installHeader.decode([8, 4, 2, [], [], [], [], [], [], 1])],
    ['a Here without an address', () => hereHeader.decode([10, 3, 'a'])],
    ['a Lineage beacon without an address', () => lineageHeader.decode([18, 9, 8195, 'a'])],
    ['a Ping without its nonce', () => pingHeader.decode([19, 3, 8195])],
    ['a Pong whose nonce is not a number', () => pongHeader.decode([20, 3, 8195, 'x'])],
    ['a Join vote that is not a string', () => joinHeader.decode([9, 5])],
    ['a Join nonce that is not a string', () => joinHeader.decode([9, '', 5])],
    ['a Join whose counts is not a number', () => joinHeader.decode([9, '', '', 'yes'])],
    ['a Confirm whose last view is not a tuple', () => confirmHeader.decode([17, 77, 'yes'])],
    [
      'a Confirm whose last view has fewer addresses than members',
      () => confirmHeader.decode([17, 77, [['a.1', 'b.1'], ['x:1'], 'a.1']]),
    ],
    ['a Here nonce that is not a string', () => hereHeader.decode([10, 3, 'a', 'x:1', 5])],
  ])('refuses %s with DECODE_BAD_SHAPE', (_, decode) => {
    let thrown: unknown;
    try {
      decode();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(DecodeError);
    expect((thrown as DecodeError).code).toBe('DECODE_BAD_SHAPE');
  });
});
