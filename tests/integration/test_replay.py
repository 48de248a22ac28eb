#!/usr/bin/env python3
"""test_replay.py -- resuming a stream with Last-Event-ID (header and
lastEventID query parameter), "earliest", unknown and expired ids, replay
racing live publishes, and the history endpoint with paging."""

import calendar
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

T, U = 'https://example.com/replay/t', 'https://example.com/replay/u'
RFC3339_MS_UTC = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')


def publish_mixed(s):
    """Publishes t1 u1 t2 t3 u2 t4 t5 u3; returns (t ids, u ids)."""
    t, u = [], []
    for name in ('t1', 'u1', 't2', 't3', 'u2', 't4', 't5', 'u3'):
        (t if name[0] == 't' else u).append(s.publish_ok(T if name[0] == 't' else U, name))
    return t, u


def read_ids(sub, n, timeout=10):
    return [e['id'] for e in sub.events(n, scaled(timeout))]


def expect_then_live(s, sub, topic=T):
    """The next event after the replay is a live one, not a duplicate."""
    uid = s.publish_ok(topic, 'live')
    ev = sub.next_event(scaled(5))
    expect_eq(ev['id'], uid, 'first event after the replay should be the live one')
    return uid


def test_replay_header():
    with Stack() as s:
        t, u = publish_mixed(s)
        sub = s.subscribe(T, last_event_id=t[1])
        expect_eq(sub.status, 200, 'status')
        expect_eq(sub.header('last-event-id'), u[2],
                  'Last-Event-ID response header = newest stored update')
        expect(sub.header('x-hubd-replay') is None, 'no reset for a known id')
        evs = sub.events(3, scaled(5))
        expect_eq([e['id'] for e in evs], t[2:], 'replayed ids after t2')
        expect_eq([e['data'] for e in evs], ['t3', 't4', 't5'], 'replayed data')
        expect_then_live(s, sub)
        sub.close()
        # Resuming from the newest update replays nothing.
        newest = s.publish_ok(T, 'newest')
        sub = s.subscribe(T, last_event_id=newest)
        expect_eq(sub.header('last-event-id'), newest, 'Last-Event-ID response header')
        expect_then_live(s, sub)
        sub.close()


def test_replay_query_parameter():
    with Stack() as s:
        t, u = publish_mixed(s)
        sub = s.subscribe(T, query_last_event_id=t[2])
        expect_eq(sub.status, 200, 'status')
        expect_eq(sub.header('last-event-id'), u[2], 'Last-Event-ID response header')
        expect_eq(read_ids(sub, 2), t[3:], 'replayed ids after t3')
        live = expect_then_live(s, sub)
        sub.close()
        # Several topics: the union, in publish order.
        sub = s.subscribe([T, U], query_last_event_id=u[0])
        expect_eq(read_ids(sub, 7), [t[1], t[2], u[1], t[3], t[4], u[2], live],
                  'replay of T and U')
        expect_then_live(s, sub, U)
        sub.close()


def test_replay_header_wins_over_query():
    with Stack() as s:
        t, u = publish_mixed(s)
        sub = s.subscribe(T, last_event_id=t[3], query_last_event_id=t[0])
        expect_eq(read_ids(sub, 1), [t[4]], 'the header must win over lastEventID')
        expect_then_live(s, sub)
        sub.close()


def test_replay_earliest():
    with Stack() as s:
        # Empty hub: the response header says "earliest".
        sub = s.subscribe(T, last_event_id='earliest')
        expect_eq(sub.status, 200, 'status')
        expect_eq(sub.header('last-event-id'), 'earliest', 'Last-Event-ID on an empty hub')
        uid = s.publish_ok(T, 'first')
        expect_eq(read_ids(sub, 1), [uid], 'live update after an empty replay')
        sub.close()

        t, u = publish_mixed(s)
        live = []
        for kw in ({'last_event_id': 'earliest'}, {'query_last_event_id': 'earliest'}):
            sub = s.subscribe(T, **kw)
            newest = live[-1] if live else u[2]
            expect_eq(sub.header('last-event-id'), newest, 'Last-Event-ID header (%r)' % kw)
            want = [uid] + t + live
            expect_eq(read_ids(sub, len(want)), want, 'earliest replays all of T (%r)' % kw)
            live.append(expect_then_live(s, sub))
            sub.close()


def check_reset(sub, requested):
    expect_eq(sub.status, 200, 'status')
    expect_eq(sub.header('x-hubd-replay'), 'reset', 'X-Hubd-Replay header')
    expect(sub.header('last-event-id') is not None, 'Last-Event-ID response header missing')
    ev = sub.next_event(scaled(5))
    expect_eq(ev['event'], 'hubd-replay-reset', 'first event type')
    expect_eq(ev['id'], None, 'the reset event carries no id: line')
    expect_eq(json.loads(ev['data']), {'lastEventID': requested}, 'reset event data')
    want = ('event: hubd-replay-reset\ndata: %s\n\n' % json.dumps(
        {'lastEventID': requested}, separators=(',', ':'))).encode()
    expect(want in sub.body or b'event: hubd-replay-reset\ndata: {' in sub.body,
           'reset event bytes: %r', sub.body[:200])
    expect(b'id:' not in sub.body.split(b'event: hubd-replay-reset')[0],
           'nothing with an id before the reset event')


def test_replay_unknown_id_resets():
    with Stack() as s:
        t, u = publish_mixed(s)
        sub = s.subscribe(T, last_event_id='no-such-id')
        check_reset(sub, 'no-such-id')
        expect_eq(read_ids(sub, 5), t, 'after a reset: every retained update of T')
        live = expect_then_live(s, sub)
        sub.close()
        # Through the query parameter too.
        sub = s.subscribe(T, query_last_event_id='urn:uuid:00000000-0000-4000-8000-000000000000')
        check_reset(sub, 'urn:uuid:00000000-0000-4000-8000-000000000000')
        expect_eq(read_ids(sub, 6), t + [live], 'after a reset (query parameter)')
        sub.close()


def test_replay_expired_id_resets():
    with Stack(extra_hubd_args=['--retention-count', '3']) as s:
        ids = [s.publish_ok(T, 'n%d' % i) for i in range(6)]

        def trimmed():
            st, _, items = s.history(T)
            return st == 200 and [it['id'] for it in items] == ids[3:]
        # Retention may run in the background: poll for it.
        H.wait_for(trimmed, scaled(10), 'retention to keep only the newest 3 updates')
        sub = s.subscribe(T, last_event_id=ids[0])
        check_reset(sub, ids[0])
        expect_eq(read_ids(sub, 3), ids[3:], 'after an expired id: every retained update')
        expect_then_live(s, sub)
        sub.close()
        # A retained id still replays normally.
        sub = s.subscribe(T, last_event_id=ids[4])
        expect(sub.header('x-hubd-replay') is None, 'no reset for a retained id')
        expect_eq(read_ids(sub, 1), ids[5:], 'replay from a retained id')
        sub.close()


def test_replay_larger_than_max_queue():
    """Replay paces itself: a reader that keeps up gets a backlog many times
    --max-queue in one stream, without being cut as a slow reader."""
    N = 60
    with Stack(max_queue=65536) as s:
        ids = [s.publish_ok(T, '%04d %s' % (i, 'y' * 16000)) for i in range(N)]
        sub = s.subscribe(T, last_event_id='earliest', keep_body=False)
        got = []
        try:
            while len(got) < N:
                got.append(sub.next_event(scaled(10))['id'])
        except (H.Closed, H.Timeout) as e:
            raise AssertionError('replay of %d x 16 KB (max-queue 64 KB) stopped after %d '
                                 'events: %s; stats %r' % (N, len(got), e, s.stats()))
        expect_eq(got, ids, 'replayed ids')
        expect_then_live(s, sub)
        expect_eq(s.stats()['drops'], 0, 'drops')
        sub.close()


def test_replay_races_publishes():
    """Subscribers resume while three publishers keep publishing: each must
    get exactly the updates after its Last-Event-ID, in the hub's order (as
    history lists them), with no gap between replay and live updates and no
    duplicate."""
    with Stack() as s:
        pad = 'b' * 1000
        base = [s.publish_ok(T if i % 3 else U, 'base%d %s' % (i, pad)) for i in range(300)]
        base_t = [b for i, b in enumerate(base) if i % 3]
        pubs = [H.Publisher(s, [T], 150, prefix='race%d' % k) for k in range(3)]
        noise = H.Publisher(s, [U], 150, prefix='noise')
        subs = []   # (sub, start id, how)
        for p in pubs + [noise]:
            p.start()
        try:
            def acked():
                return sum(len(p.acked) for p in pubs)
            for k, mark in enumerate(range(0, 450, 40)):
                H.wait_for(lambda: acked() >= mark or not any(p.is_alive() for p in pubs),
                           scaled(60), 'publishers to reach %d' % mark)
                # From an old id (a long replay racing live updates) and from
                # a recent one (replay ends while live updates arrive).
                recent = [p.acked[-1][0] for p in pubs if p.acked]
                starts = [base_t[(k * 37) % len(base_t)],
                          recent[k % len(recent)] if recent else base_t[-1]]
                for start in starts:
                    how = 'header' if (k + len(subs)) % 2 == 0 else 'query'
                    if how == 'header':
                        sub = s.subscribe(T, last_event_id=start, keep_body=False)
                    else:
                        sub = s.subscribe(T, query_last_event_id=start, keep_body=False)
                    expect_eq(sub.status, 200, 'status')
                    subs.append((sub, start, how))
            for p in pubs + [noise]:
                p.join(scaled(120))
                expect(not p.is_alive(), 'publisher %s did not finish' % p.prefix)
                expect(not p.errors, 'publish errors: %r', p.errors[:3])
            end = s.publish_ok(T, 'sentinel')
            # The hub's order of T: what history lists.
            st, h, items = s.history(T, limit=1000)
            expect_eq(st, 200, 'history status')
            expect(h.get('Link') is None, 'history of T does not fit one page')
            all_t = [it['id'] for it in items]
            expect_eq(len(all_t), len(base_t) + 450 + 1, 'updates of T in history')
            expect_eq(all_t[-1], end, 'the sentinel is last')
            for sub, start, how in subs:
                want = all_t[all_t.index(start) + 1:]
                got = []
                try:
                    while not got or got[-1] != end:
                        got.append(sub.next_event(scaled(20))['id'])
                        if len(got) > len(want):
                            break
                except (H.Timeout, H.Closed) as e:
                    raise AssertionError('from %s (%s): %s after %d of %d events'
                                         % (start, how, e, len(got), len(want)))
                if got != want:
                    missing = [x for x in want if x not in got]
                    dups = len(got) - len(set(got))
                    extra = [x for x in got if x not in want]
                    raise AssertionError(
                        'resumed from %s (%s): %d events, want %d; missing %d (first %r), '
                        'duplicates %d, unexpected %r, order ok: %s'
                        % (start, how, len(got), len(want), len(missing), missing[:3],
                           dups, extra[:3], [x for x in got if x in want] == want))
            print('# %d resumed subscribers, %d updates of T' % (len(subs), len(all_t)))
        finally:
            for p in pubs + [noise]:
                p.stop_flag.set()
            for sub, _, _ in subs:
                sub.close()


def parse_link_next(value):
    m = re.match(r'^\s*<([^>]*)>\s*;\s*rel="?next"?\s*$', value or '')
    return m.group(1) if m else None


def test_history_paging():
    with Stack() as s:
        ids = []
        for i in range(7):
            ids.append(s.publish_ok(T, 'h%d' % i, type='kind' if i == 2 else None))
            if i == 3:
                s.publish_ok(U, 'other topic')
                s.publish_ok(T, 'private', private=True)
        before = time.time()
        st, h, items = s.history(T)
        expect_eq(st, 200, 'history status')
        expect_eq(h.get('Content-Type', '').split(';')[0].strip(), 'application/json',
                  'history Content-Type')
        expect_eq([it['id'] for it in items], ids, 'all of T, oldest first, no private')
        expect(h.get('Link') is None, 'no Link header on the last page: %r', h.get('Link'))
        it = items[2]
        expect_eq(sorted(it.keys()), ['data', 'id', 'time', 'topics', 'type'], 'item keys')
        expect_eq((it['topics'], it['type'], it['data']), ([T], 'kind', 'h2'), 'item')
        expect_eq(items[0]['type'], None, 'type null when none')
        for x in items:
            expect(RFC3339_MS_UTC.match(x['time']), 'time %r is not RFC 3339 UTC with ms',
                   x['time'])
            t = calendar.timegm(time.strptime(x['time'][:19], '%Y-%m-%dT%H:%M:%S'))
            expect(abs(t - before) < 300, 'time %r is not near now', x['time'])

        # Pages of 3: follow the Link header.
        pages = []
        st, h, page = s.history(T, limit=3)
        while True:
            expect_eq(st, 200, 'page status')
            pages.append([it['id'] for it in page])
            nxt = parse_link_next(h.get('Link'))
            if nxt is None:
                break
            expect(len(pages) < 10, 'too many pages')
            expect(nxt.startswith('/.well-known/mercure/history?'), 'Link target %r', nxt)
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
            expect_eq(q.get('topic'), [T], 'Link keeps the topic')
            expect_eq(q.get('after'), [pages[-1][-1]], 'Link after= the last id of the page')
            expect_eq(q.get('limit'), ['3'], 'Link keeps the limit')
            st, h, page = s.history_url(nxt)
        expect_eq(pages, [ids[0:3], ids[3:6], ids[6:7]], 'pages')

        # after= starts past an id; a page that ends exactly at the end.
        st, h, page = s.history(T, after=ids[3], limit=3)
        expect_eq([it['id'] for it in page], ids[4:7], 'after=ids[3]')
        expect_eq(h.get('Link'), None, 'no Link when nothing follows')
        st, h, page = s.history(T, after=ids[6])
        expect_eq((st, page), (200, []), 'after the newest: empty array')
        st, h, page = s.history(T, after='no-such-id')
        expect_eq(st, 404, 'after= an id that is not retained')
        # Several topics.
        st, h, page = s.history([T, U], limit=100)
        expect_eq(len(page), 8, 'history of T and U')
        expect_eq(page[4]['topics'], [U], 'the U update in its place')


if __name__ == '__main__':
    H.run_tests(globals())
