/**
 * The live group page: what the HTTP endpoint pushes to a browser over server-sent events (this
 * member's status, a per-second series of calls and latency percentiles, and, when asked, every
 * member's status by the status query) and the page itself, plain HTML with the chart drawn as SVG.
 */
import { steadyNow } from '../clock.js';
import type { AuthKey } from '../wire/auth.js';
import type { MemberStatus, Observer } from './observer.js';
import { type MemberAnswer, queryGroup } from './query.js';

/** One second of this member's activity. */
export interface SeriesPoint {
  /** Wall-clock ms at the end of the second. */
  t: number;
  /** Requests applied here in that second. */
  calls: number;
  /** Receipt-to-reply time percentiles (ms) of the requests this member answered as contact. */
  p50?: number;
  p99?: number;
}

/** What the page receives at each update. */
export interface LiveSnapshot {
  status: MemberStatus;
  series: SeriesPoint[];
  /** Every member's status, when the server polls its peers. */
  peers?: { member: string; address: string; status?: MemberStatus; error?: string; callsPerSec?: number }[];
}

export interface PeerPolling {
  /** The group key, when the group has one (the status query is authenticated like any client's). */
  key?: AuthKey;
  /** How often to ask every member for its status (ms). Default 2 000. */
  everyMs?: number;
}

const SERIES_POINTS = 600;

/** Keeps the series and the peers' statuses; started by the server, stopped with it. */
export class LiveFeed {
  private readonly series: SeriesPoint[] = [];
  private lastApplied: number | undefined;
  private peers: LiveSnapshot['peers'];
  private readonly peerApplied = new Map<string, { at: number; applied: number }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private polling = false;

  /**
   * @param watched whether anyone has the page open. Peers are asked only then: the polls are
   * most of what an idle metrics server costs (each member answers every poller's status query),
   * and only the page shows their answers.
   */
  constructor(
    private readonly observer: Observer,
    private readonly peerPolling?: PeerPolling,
    private readonly watched: () => boolean = () => true,
  ) {
    const sample = setInterval(() => this.sample(), 1_000);
    sample.unref();
    this.timers.push(sample);
    if (peerPolling) {
      const poll = setInterval(() => void this.pollPeers(), peerPolling.everyMs ?? 2_000);
      poll.unref();
      this.timers.push(poll);
      void this.pollPeers();
    }
  }

  snapshot(): LiveSnapshot {
    const status = this.observer.status();
    const view = new Set(status.view?.members ?? []);
    // A member that left the view is gone from the page at once, whatever the last poll said.
    const peers = this.peers?.filter((p) => view.has(p.member));
    return { status, series: [...this.series], ...(peers ? { peers } : {}) };
  }

  /** Asks the peers again now (after a view change, so the table follows it). */
  refresh(): void {
    if (this.peerPolling) void this.pollPeers();
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
  }

  private sample(): void {
    // The observer stamps latencies with the steady clock: the same clock picks the last second
    // (Date.now() would pick all of them or none once the wall clock was stepped).
    const now = steadyNow();
    // Not status(): that reads every layer's stats (about 0.5 ms, nak's most), every second,
    // for one counter.
    const applied = this.observer.appliedCount();
    const calls =
      applied === undefined || this.lastApplied === undefined ? 0 : Math.max(0, applied - this.lastApplied);
    this.lastApplied = applied;
    // A typed array sorts numbers natively: with a comparator, sorting a loaded second's 4,096
    // latencies was 0.4 % of a replica's CPU in the observe bench's profile.
    const lat = Float64Array.from(this.observer.latenciesSince(now - 1_000)).sort();
    const point: SeriesPoint = { t: now, calls };
    if (lat.length > 0) {
      point.p50 = lat[Math.floor(lat.length * 0.5)]!;
      point.p99 = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!;
    }
    this.series.push(point);
    if (this.series.length > SERIES_POINTS) this.series.shift();
  }

  private async pollPeers(): Promise<void> {
    if (this.polling || !this.watched()) return;
    const s = this.observer.status();
    if (!s.group || !s.view) return;
    this.polling = true;
    try {
      const answers = await queryGroup(
        {
          group: s.group,
          seeds: s.view.addresses,
          timeoutMs: Math.min(1_500, this.peerPolling?.everyMs ?? 2_000),
          ...(this.peerPolling?.key !== undefined ? { key: this.peerPolling.key } : {}),
        },
        'status',
        [],
      );
      this.peers = answers.map((a) => this.peerRow(a));
    } catch {
      // The group is unreachable from here right now; the page keeps the last answers.
    } finally {
      this.polling = false;
    }
  }

  private peerRow(a: MemberAnswer): NonNullable<LiveSnapshot['peers']>[number] {
    const status = a.value as MemberStatus | undefined;
    if (!status) return { member: a.member, address: a.address, error: a.error?.code ?? 'no answer' };
    const applied = status.stats.replica?.applied ?? 0;
    const before = this.peerApplied.get(a.member);
    this.peerApplied.set(a.member, { at: status.at, applied });
    const callsPerSec =
      before && status.at > before.at
        ? ((applied - before.applied) * 1000) / (status.at - before.at)
        : undefined;
    return {
      member: a.member,
      address: a.address,
      status,
      ...(callsPerSec !== undefined ? { callsPerSec } : {}),
    };
  }
}

/** The page: one HTML document, no external resources; it reads `/events`. */
export const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>troupe group</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#eee}.alarm{background:#c62828;color:#fff;padding:8px;margin:8px 0;display:none}
.muted{color:#777}#conn{float:right}svg{background:#fff;border:1px solid #ddd}
.role-coordinator{font-weight:600}.gone{color:#c62828}
</style></head><body>
<span id="conn" class="muted">connecting…</span>
<h1>group <span id="group">?</span>: view <span id="view-id">?</span>, <span id="member-count">?</span> members</h1>
<div class="muted">served by <span id="self">?</span> at <span id="updated">?</span></div>
<div id="divergence" class="alarm"></div>
<h2>Members</h2>
<table id="members"><thead><tr><th>member</th><th>address</th><th>role</th><th>view</th><th>applied</th><th>lag</th><th>calls/s</th><th>RSS MB</th><th>state</th></tr></thead><tbody></tbody></table>
<h2>Calls per second and latency (this member, last 10 minutes)</h2>
<svg id="chart" width="720" height="180" viewBox="0 0 720 180"></svg>
<div class="muted"><span style="color:#1565c0">■</span> calls/s (left) <span style="color:#ef6c00">■</span> p50 ms <span style="color:#c62828">■</span> p99 ms (right)</div>
<h2>Recent view changes</h2><ul id="views"></ul>
<h2>Suspicions</h2><ul id="suspicions"></ul>
<h2>Slow requests</h2><ul id="slow"></ul>
<script>
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
function poly(points, w, h, max, pick) {
  const n = points.length; if (n < 2 || max <= 0) return '';
  return points.map((p, i) => (i * w / (n - 1)).toFixed(1) + ',' + (h - (pick(p) ?? 0) / max * h).toFixed(1)).join(' ');
}
function chart(series) {
  const w = 700, h = 160, calls = Math.max(1, ...series.map((p) => p.calls));
  const lat = Math.max(1, ...series.map((p) => p.p99 ?? 0));
  $('chart').innerHTML = '<g transform="translate(10,10)">' +
    '<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="' + poly(series, w, h, calls, (p) => p.calls) + '"/>' +
    '<polyline fill="none" stroke="#ef6c00" points="' + poly(series, w, h, lat, (p) => p.p50) + '"/>' +
    '<polyline fill="none" stroke="#c62828" points="' + poly(series, w, h, lat, (p) => p.p99) + '"/>' +
    '<text x="2" y="12" font-size="11">' + calls + ' calls/s</text><text x="' + (w - 80) + '" y="12" font-size="11">' + lat.toFixed(1) + ' ms</text></g>';
}
function render(d) {
  const s = d.status, view = s.view || { id: '?', members: [], addresses: [] };
  $('group').textContent = s.group ?? '?'; $('view-id').textContent = view.id; $('member-count').textContent = view.members.length;
  $('self').textContent = s.member ?? '?'; $('updated').textContent = new Date(s.at).toLocaleTimeString();
  const peers = new Map((d.peers || []).map((p) => [p.member, p]));
  // Lag as troupe status counts it (cli.ts, trailing): requests taken since the newest view any member applies.
  const statusOf = (m) => (m === s.member ? s : peers.get(m)?.status);
  const at = view.members.map((m) => statusOf(m)?.stats.replica).filter((r) => r && r.appliedView !== undefined);
  const newest = Math.max(0, ...at.map((r) => r.appliedView));
  const most = Math.max(0, ...at.filter((r) => r.appliedView === newest).map((r) => r.appliedInView));
  const lagOf = (o) => { const r = o && o.stats.replica; return !r || r.appliedView === undefined ? '' : r.appliedView === newest ? most - r.appliedInView : 'view ' + r.appliedView; };
  $('members').tBodies[0].innerHTML = view.members.map((m, i) => {
    const p = peers.get(m), ps = p && p.status, own = m === s.member ? s : ps;
    const held = (s.locks || []).filter((l) => l.holder === m).map((l) => 'lock ' + l.lock);
    const role = [i === 0 ? 'coordinator' : 'member', ...(s.sequencer === m ? ['sequencer'] : []), ...held].join(', ') +
      (m === s.member ? ' (this page)' : '');
    const applied = own ? (own.stats.replica?.applied ?? '') : '';
    const rate = p && p.callsPerSec !== undefined ? p.callsPerSec.toFixed(0) : '';
    const rss = own ? (own.rssBytes / 1048576).toFixed(1) : '';
    const state = p && p.error ? p.error : own && own.view && own.view.id !== view.id ? 'view ' + own.view.id : 'ok';
    return '<tr data-member="' + esc(m) + '"><td>' + esc(m) + '</td><td>' + esc(view.addresses[i] ?? '') + '</td><td class="role-' + (i === 0 ? 'coordinator' : 'member') + '">' + role +
      '</td><td>' + (own && own.view ? own.view.id : '') + '</td><td>' + applied + '</td><td>' + lagOf(own) + '</td><td>' + rate + '</td><td>' + rss + '</td><td>' + esc(state) + '</td></tr>';
  }).join('');
  $('views').innerHTML = s.views.slice().reverse().slice(0, 10).map((v) => {
    const cause = [v.joined.length ? 'joined ' + v.joined.join(' ') : '', v.left.length ? 'left ' + v.left.join(' ') : '',
      v.failed.length ? '<span class="gone">failed ' + v.failed.join(' ') + '</span>' : ''].filter(Boolean).join('; ') || 'formed';
    return '<li data-view="' + v.viewId + '">' + new Date(v.at).toLocaleTimeString() + ' view ' + v.viewId + ' [' + v.members.length + ']: ' + cause +
      (v.flushMs !== undefined ? ' (flush ' + v.flushMs.toFixed(1) + ' ms)' : '') + '</li>';
  }).join('');
  $('suspicions').innerHTML = s.suspicions.slice().reverse().slice(0, 10).map((x) => '<li>' + new Date(x.at).toLocaleTimeString() + ' ' + esc(x.member) + ' silent ' + Math.round(x.silentMs) + ' ms</li>').join('') || '<li class="muted">none</li>';
  const running = s.applying && s.applying.ms >= 1000 ? '<li class="gone" data-applying="' + esc(s.applying.requestId) + '">still applying here: <code>' +
    esc(s.applying.requestId) + '</code> ' + esc(s.applying.method) + ' for ' + (s.applying.ms / 1000).toFixed(1) + ' s (later requests wait)</li>' : '';
  $('slow').innerHTML = running + s.slow.slice().reverse().slice(0, 10).map((t) => {
    const t0 = t.steps[0]?.at ?? 0;
    return '<li><code>' + esc(t.requestId) + '</code>: ' + t.steps.map((x) => x.step + ' +' + (x.at - t0).toFixed(1)).join(', ') + ' ms</li>';
  }).join('') || '<li class="muted">none</li>';
  const dv = s.divergences;
  $('divergence').style.display = dv.length ? 'block' : 'none';
  $('divergence').textContent = dv.length ? 'DIVERGENCE: ' + dv.length + ' check(s) found replicas with different states; last at checkpoint ' +
    dv[dv.length - 1].checkpoint + ', minority: ' + (dv[dv.length - 1].minority.join(' ') || 'no majority') : '';
  chart(d.series);
}
const es = new EventSource('events');
es.onmessage = (e) => { $('conn').textContent = 'live'; render(JSON.parse(e.data)); };
es.onerror = () => { $('conn').textContent = 'disconnected, retrying…'; };
</script></body></html>
`;
