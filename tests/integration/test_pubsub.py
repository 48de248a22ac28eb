#!/usr/bin/env python3
"""test_pubsub.py -- subscribe, publish, receive through lighttpd + hub.fcgi
+ hubd: response format, topic isolation, data encoding, private updates,
heartbeats, hubctl."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

UUID_ID = re.compile(r'^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


def test_subscribe_publish_receive():
    with Stack() as s:
        sub = s.subscribe('https://example.com/books/1', wait_ok=False)
        expect_eq(sub.status, 200, 'subscribe status')
        expect_eq(sub.header('content-type', '').split(';')[0].strip(), 'text/event-stream',
                  'Content-Type')
        expect_eq(sub.header('cache-control'), 'no-cache', 'Cache-Control')
        # The shipped lighttpd snippet leaves it out (HUBD_X_ACCEL_BUFFERING).
        expect(sub.header('x-accel-buffering') is None,
               'X-Accel-Buffering behind the shipped lighttpd snippet: %r',
               sub.header('x-accel-buffering'))
        expect(sub.header('last-event-id') is None,
               'Last-Event-ID response header without a request for replay: %r',
               sub.header('last-event-id'))
        sub.wait_comment(scaled(5))
        expect_eq(sub.comment_texts[0].strip(), 'ok', 'the opening comment')

        # A hub-made id.
        st, h, body = s.publish('https://example.com/books/1', 'hello')
        expect_eq(st, 200, 'publish status')
        expect_eq(h.get('Content-Type', '').split(';')[0].strip(), 'text/plain',
                  'publish Content-Type')
        expect(UUID_ID.match(body), 'hub-made id should be urn:uuid:..., got %r', body)
        ev = sub.next_event(scaled(5))
        expect_eq(ev['id'], body, 'event id')
        expect_eq(ev['data'], 'hello', 'event data')
        expect_eq(ev['event'], None, 'event type')
        expect_eq(ev['retry'], None, 'retry')
        raw = ('id: %s\ndata: hello\n\n' % body).encode()
        expect(raw in sub.body, 'raw event bytes %r not in stream %r', raw, sub.body[-200:])

        # Publisher id, type and retry.
        st, h, body = s.publish('https://example.com/books/1', 'x', id='book-1-v2',
                                type='book.updated', retry=2500)
        expect_eq((st, body), (200, 'book-1-v2'), 'publish with id')
        ev = sub.next_event(scaled(5))
        expect_eq((ev['id'], ev['event'], ev['retry'], ev['data']),
                  ('book-1-v2', 'book.updated', 2500, 'x'), 'event fields')
        raw = b'id: book-1-v2\nevent: book.updated\nretry: 2500\ndata: x\n\n'
        expect(raw in sub.body, 'raw event %r not in stream', raw)

        # Charset parameter on the form content type is accepted.
        st, _, body = s.publish('https://example.com/books/1', 'cs', headers={
            'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8'})
        expect_eq(st, 200, 'publish with charset parameter')
        expect_eq(sub.next_event(scaled(5))['data'], 'cs', 'data')
        # Last, as it is about bytes only: the exact opening comment.
        expect(sub.body.startswith(b':ok\n\n'), 'stream must start with ":ok\\n\\n", got %r',
               sub.body[:40])
        sub.close()


def test_topic_isolation():
    A, B, C = 'https://example.com/a', 'https://example.com/b', 'https://example.com/c'
    with Stack() as s:
        sa, sb, sab = s.subscribe(A), s.subscribe(B), s.subscribe([A, B])
        ida = s.publish_ok(A, 'to a')
        idc = s.publish_ok(C, 'to c')
        idb = s.publish_ok(B, 'to b')
        idab = s.publish_ok([A, B], 'to a and b')
        idb2 = s.publish_ok([C, B], 'to c and b (b not canonical)')
        end_a = s.publish_ok(A, 'end a')
        end_b = s.publish_ok(B, 'end b')

        def ids(sub, n):
            return [e['id'] for e in sub.events(n, scaled(10))]
        expect_eq(ids(sa, 3), [ida, idab, end_a], 'subscriber of A')
        expect_eq(ids(sb, 4), [idb, idab, idb2, end_b], 'subscriber of B')
        # Subscribed to both: every update once, never twice.
        expect_eq(ids(sab, 6), [ida, idb, idab, idb2, end_a, end_b], 'subscriber of A and B')
        for sub in (sa, sb, sab):
            expect(sub.pending_events() == 0, 'unexpected extra events')
            sub.close()
        expect(idc not in (ida, idb), 'ids must differ')


DATA_CASES = [
    ('one line', 'hello world'),
    ('empty', ''),
    ('LF', 'line1\nline2\nline3'),
    ('CR', 'line1\rline2'),
    ('CRLF', 'line1\r\nline2'),
    ('mixed breaks', 'a\rb\nc\r\nd\n\re'),
    ('empty line inside', 'first\n\nthird'),
    ('trailing LF', 'text\n'),
    ('leading LF', '\ntext'),
    ('only LF', '\n'),
    ('two CRLFs', '\r\n\r\n'),
    ('looks like fields', 'id: fake\nevent: fake\n\nretry: 1\ndata: x'),
    ('colon and spaces', ':not a comment\n  indented\n'),
    ('unicode', 'h\u00e9llo w\u00f6rld \u2713 \U0001F600'),
    ('percent and plus', '100% + 50% = 150% & more=yes'),
]


def normalise(data):
    """What an SSE client sees for data: every line break becomes LF."""
    return data.replace('\r\n', '\n').replace('\r', '\n')


def test_data_encoding():
    T = 'urn:hubd:test:data'
    with Stack() as s:
        sub = s.subscribe(T)
        ids = []
        for name, data in DATA_CASES:
            ids.append(s.publish_ok(T, data))
        for (name, data), uid in zip(DATA_CASES, ids):
            ev = sub.next_event(scaled(5))
            expect_eq(ev['id'], uid, 'id for case %r' % name)
            expect_eq(ev['data'], normalise(data), 'data for case %r' % name)
        # The exact lines on the wire for a few cases.
        body = sub.body
        for (name, data), uid in zip(DATA_CASES, ids):
            lines = normalise(data).split('\n')
            want = ('id: %s\n' % uid + ''.join('data: %s\n' % ln for ln in lines) + '\n').encode()
            expect(want in body, 'wire bytes for case %r: %r not found', name, want)

        # 200 KB, several lines, reaches the subscriber and history intact.
        big = ''.join('line %06d %s\n' % (i, 'x' * 90) for i in range(2000))
        expect(len(big) >= 200000, 'big payload too small')
        uid = s.publish_ok(T, big)
        ev = sub.next_event(scaled(10))
        expect_eq(ev['id'], uid, '200 KB update id')
        expect(ev['data'] == big, '200 KB data differs (got %d chars, want %d)',
               len(ev['data']), len(big))
        st, _, items = s.history(T, limit=1000)
        expect_eq(st, 200, 'history status')
        got = [it for it in items if it['id'] == uid]
        expect(got and got[0]['data'] == big, '200 KB data not intact in history')
        # history returns the data as published (line breaks untouched)
        for (name, data), hid in zip(DATA_CASES, ids):
            hit = [it for it in items if it['id'] == hid]
            expect(hit, 'update %r missing from history', name)
            expect_eq(hit[0]['data'], data, 'history data for case %r' % name)
        sub.close()


def test_private_updates_hidden_from_anonymous():
    T = 'urn:hubd:test:private'
    with Stack() as s:
        sub = s.subscribe(T)
        pid = s.publish_ok(T, 'secret', private=True)
        pub = s.publish_ok(T, 'public')
        ev = sub.next_event(scaled(5))
        expect_eq((ev['id'], ev['data']), (pub, 'public'),
                  'private update must not reach a subscriber')
        st, _, items = s.history(T)
        expect_eq(st, 200, 'history status')
        expect_eq([it['id'] for it in items], [pub], 'history must not list private updates')
        rep = s.subscribe(T, last_event_id='earliest')
        ev = rep.next_event(scaled(5))
        expect_eq(ev['id'], pub, 'replay must skip private updates')
        expect(pid != pub, 'distinct ids')
        sub.close()
        rep.close()


def test_heartbeat():
    with Stack(heartbeat=1) as s:
        sub = s.subscribe('urn:hubd:test:hb')
        expect_eq([c.strip() for c in sub.comment_texts[:1]], ['ok'], 'first comment')
        # Two heartbeats within a little over two intervals.
        t0 = H.time.monotonic()
        sub.wait_comment(scaled(3.5), count=3)
        expect(H.time.monotonic() - t0 > 1.0, 'two heartbeats within a second')
        expect(sub.body.endswith(b'\n\n:\n\n:\n\n'),
               'heartbeats should be ":\\n\\n", got %r', sub.body[:30])
        # A heartbeat does not disturb events.
        uid = s.publish_ok('urn:hubd:test:hb', 'after heartbeats')
        expect_eq(sub.next_event(scaled(5))['id'], uid, 'event after heartbeats')
        sub.close()


def test_hubctl():
    T = 'urn:hubd:test:hubctl'
    with Stack() as s:
        sub = s.subscribe(T)
        r = s.hubctl('publish', '-t', T, '-d', 'from hubctl\nline 2', '--id', 'ctl-1',
                     '--type', 'note', '--retry', '3000')
        expect_eq(r.returncode, 0, 'hubctl publish exit (stderr %r)' % r.stderr)
        expect_eq(r.stdout.strip(), 'ctl-1', 'hubctl publish prints the id')
        ev = sub.next_event(scaled(5))
        expect_eq((ev['id'], ev['event'], ev['retry'], ev['data']),
                  ('ctl-1', 'note', 3000, 'from hubctl\nline 2'), 'event from hubctl')

        r = s.hubctl('publish', '-t', T, '-t', 'urn:hubd:test:other', '-d', 'two topics')
        expect_eq(r.returncode, 0, 'hubctl publish exit')
        uid = r.stdout.strip()
        expect(UUID_ID.match(uid), 'hub-made id from hubctl: %r', uid)
        expect_eq(sub.next_event(scaled(5))['id'], uid, 'second event')

        r = s.hubctl('history', '-t', T)
        expect_eq(r.returncode, 0, 'hubctl history exit')
        items = json.loads(r.stdout)
        expect_eq([it['id'] for it in items], ['ctl-1', uid], 'hubctl history ids')
        expect_eq(items[0]['topics'], [T], 'topics')
        expect_eq(items[1]['topics'], [T, 'urn:hubd:test:other'], 'topics, canonical first')
        expect_eq(items[0]['type'], 'note', 'type')
        expect_eq(items[1]['type'], None, 'no type is null')
        r = s.hubctl('history', '-t', T, '--after', 'ctl-1', '--limit', '5')
        expect_eq(r.returncode, 0, 'hubctl history --after exit')
        expect_eq([it['id'] for it in json.loads(r.stdout)], [uid], 'history --after')

        stats = s.stats()
        for key in ('subscribers', 'topics', 'updates_stored', 'updates_published',
                    'deliveries', 'drops'):
            expect(key in stats, 'stats lacks %r: %r', key, stats)
        expect_eq(stats['subscribers'], 1, 'stats subscribers')
        expect(stats['updates_published'] >= 2, 'updates_published %r', stats)
        expect(stats['updates_stored'] >= 2, 'updates_stored %r', stats)
        expect(stats['deliveries'] >= 2, 'deliveries %r', stats)

        # Private through hubctl: not delivered (the next event is the
        # one published below), not in the HTTP history.
        r = s.hubctl('publish', '-t', T, '-d', 'private', '--private')
        expect_eq(r.returncode, 0, 'hubctl publish --private exit')
        st, _, hist = s.history(T)
        expect_eq([it['id'] for it in hist], ['ctl-1', uid], 'HTTP history without private')

        # hubctl token makes a JWT the hub accepts over HTTP.
        r = s.hubctl('token', '--key', s.jwt_key, '--publish', T)
        expect_eq(r.returncode, 0, 'hubctl token exit')
        tok = r.stdout.strip()
        hdr, claims = H.decode_jwt_unverified(tok)
        expect_eq(hdr.get('alg'), 'HS256', 'token alg')
        expect_eq(claims.get('mercure', {}).get('publish'), [T], 'token publish claim')
        expect(H.verify_hs256(tok, s.jwt_key), 'hubctl token signature does not verify')
        st, _, body = s.publish(T, 'with hubctl token', token=tok)
        expect_eq(st, 200, 'publish with hubctl token')
        expect_eq(sub.next_event(scaled(5))['id'], body, 'event published with hubctl token')
        st, _, _ = s.publish('urn:hubd:test:elsewhere', 'x', token=tok)
        expect_eq(st, 403, 'hubctl token limited to one topic')
        r = s.hubctl('token', '--key', s.jwt_key, '--publish', '*', '--exp', '60')
        expect_eq(r.returncode, 0, 'hubctl token --exp exit')
        exp = H.decode_jwt_unverified(r.stdout.strip())[1].get('exp')
        expect(isinstance(exp, int) and 0 < exp - H.time.time() <= 61, 'exp claim %r', exp)

        # Exit codes: 1 hub error, 2 usage, 3 unreachable.
        r = s.hubctl('publish', '-t', T, '-d', 'dup', '--id', 'ctl-1')
        expect_eq(r.returncode, 1, 'hubctl publish of a stored id (409) exit')
        r = s.hubctl('frobnicate')
        expect_eq(r.returncode, 2, 'hubctl unknown command exit')
        r = s.hubctl('publish', '-d', 'no topic')
        expect_eq(r.returncode, 2, 'hubctl publish without -t exit')
        r = s.hubctl('stats', socket_path=os.path.join(s.tmpdir, 'nothing-here.sock'))
        expect_eq(r.returncode, 3, 'hubctl on a missing socket exit')
        sub.close()


def test_x_accel_buffering_setting():
    """hub.fcgi's HUBD_X_ACCEL_BUFFERING: send (the default) puts
    X-Accel-Buffering: no in every stream's headers, omit (the shipped
    lighttpd snippet) leaves it out; the stream is the same otherwise, also
    when it replays."""
    for value, want in (('send', 'no'), ('omit', None)):
        with Stack(fcgi_env={'HUBD_X_ACCEL_BUFFERING': value}) as s:
            first = s.publish_ok('https://example.com/xa', 'one')
            live = s.subscribe('https://example.com/xa')
            replay = s.subscribe('https://example.com/xa', last_event_id='earliest')
            for sub in (live, replay):
                expect_eq(sub.header('x-accel-buffering'), want, 'X-Accel-Buffering, %s' % value)
                expect_eq(sub.header('content-type', '').split(';')[0].strip(),
                          'text/event-stream', 'Content-Type, %s' % value)
            expect_eq(replay.next_event(scaled(5))['id'], first, 'replayed, %s' % value)
            uid = s.publish_ok('https://example.com/xa', 'two')
            for sub in (live, replay):
                expect_eq(sub.next_event(scaled(5))['id'], uid, 'live update, %s' % value)


def test_handler_threads():
    """hub.fcgi serves HUBD_THREADS requests at once (each thread with its
    own, reused connection to hubd): concurrent publishes all succeed, in
    one process with that many threads."""
    import threading
    with Stack(max_procs=1, fcgi_env={'HUBD_THREADS': '3'}) as s:
        sub = s.subscribe('https://example.com/threads')
        kids = H.wait_for(lambda: H.child_pids(s.lighttpd_pid), scaled(5), 'hub.fcgi')
        nthreads = H.wait_for(lambda: len(os.listdir('/proc/%d/task' % kids[0])) == 3 and 3,
                              scaled(5), 'hub.fcgi threads')
        expect_eq(nthreads, 3, 'hub.fcgi threads')
        results = []

        def publish(k):
            for j in range(5):
                results.append(s.publish('https://example.com/threads', '%d-%d' % (k, j)))

        workers = [threading.Thread(target=publish, args=(k,)) for k in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        expect_eq(sorted(st for st, _, _ in results), [200] * 30, 'statuses')
        ids = set(body for _, _, body in results)
        expect_eq(len(ids), 30, 'distinct ids')
        got = set(sub.next_event(scaled(5))['id'] for _ in range(30))
        expect_eq(got, ids, 'every update delivered')


if __name__ == '__main__':
    H.run_tests(globals())
