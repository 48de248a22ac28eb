#!/usr/bin/env python3
"""test_apache.py -- the hub behind Apache (mpm_event + mod_proxy_fcgi with
flushpackets=on, no enablereuse) instead of lighttpd, as
contrib/apache/hubd.conf sets it up: hub.fcgi runs as its own FastCGI
server on a Unix socket (Apache never spawns it).

Subscribe + publish + receive, Last-Event-ID replay, a departed client
reaped within two heartbeats, hubd killed (SIGKILL) and back, and 200
concurrent streams receiving a burst complete and in order.

Without apache2 (or its mod_proxy_fcgi) the test is skipped (exit 77),
except when CI is set: then it fails."""

import os
import selectors
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402
import test_scale  # noqa: E402  (its non-blocking subscriber and pump)

CI = os.environ.get('CI', '').lower() not in ('', '0', 'false', 'no')
T = 'https://example.com/apache/1'


def apache_stack(**kw):
    return Stack(front='apache', **kw)


def test_subscribe_publish_receive():
    with apache_stack() as s:
        sub = s.subscribe(T, wait_ok=False)
        expect_eq(sub.status, 200, 'subscribe status')
        expect_eq(sub.header('content-type'), 'text/event-stream', 'content type')
        expect(sub.header('content-encoding') is None, 'the stream is not compressed')
        expect('Apache' in (sub.header('server') or ''), 'served by Apache: %r',
               sub.header('server'))
        ids = []
        for i in range(3):
            t0 = time.monotonic()
            uid = s.publish_ok(T, 'hello %d' % i, type='greeting')
            ev = sub.next_event(scaled(5))
            print('# update %d arrived %.1f ms after the publish was acknowledged'
                  % (i, (time.monotonic() - t0) * 1000))
            expect_eq((ev['id'], ev['data'], ev['event']), (uid, 'hello %d' % i, 'greeting'),
                      'the update')
            ids.append(uid)
        # History, and a topic with %2F in the subscriptions path, reach
        # hub.fcgi (it routes by REQUEST_URI) and hubd.
        st, _, body = s.history(T)
        expect_eq(st, 200, 'history status')
        expect_eq([u['id'] for u in body][-3:], ids, 'history ids')
        st, _, body = s.request('GET', '/.well-known/mercure/subscriptions/'
                                + urllib.parse.quote(T, safe=''))
        expect(st in (200, 401, 404) and 'not found' != body.strip(),
               'subscriptions path routed to the hub: %r %r', st, body)
        # A publish without the Authorization header is refused: the header
        # does reach hub.fcgi (CGIPassAuth), or every publish above had failed.
        st, _, _ = s.publish(T, 'x', token=None)
        expect_eq(st, 401, 'publish without a token')
        st, _, _ = s.request('GET', '/')
        expect_eq(st, 200, 'the static page next to the hub')
        sub.close()


def test_last_event_id_replay():
    with apache_stack() as s:
        ids = [s.publish_ok(T, 'u%d' % i) for i in range(5)]
        sub = s.subscribe(T, last_event_id=ids[1])
        expect_eq(sub.status, 200, 'status')
        expect_eq(sub.header('last-event-id'), ids[-1], 'Last-Event-ID response header')
        expect_eq([e['id'] for e in sub.events(3, scaled(5))], ids[2:], 'replayed ids')
        live = s.publish_ok(T, 'live')
        expect_eq(sub.next_event(scaled(5))['id'], live, 'then the live update')
        sub.close()
        sub = s.subscribe(T, query_last_event_id=ids[3])
        expect_eq([e['id'] for e in sub.events(2, scaled(5))], [ids[4], live],
                  'replay from the lastEventID query parameter')
        sub.close()


def test_departed_client_reaped():
    HB = 1
    with apache_stack(heartbeat=HB) as s:
        subs = [s.subscribe(T) for _ in range(4)]
        H.wait_for(lambda: s.stats()['subscribers'] == 4, scaled(5), '4 subscribers')
        subs[0].close()
        subs[1].close(reset=True)
        subs[2].sock.shutdown(H.socket.SHUT_WR)
        subs[2].close()
        t0 = time.monotonic()
        H.wait_for(lambda: s.stats()['subscribers'] == 1, scaled(2 * HB + 1.5),
                   'departed subscribers to be reaped within two heartbeats')
        print('# reaped after %.2fs (heartbeat %ds)' % (time.monotonic() - t0, HB))
        uid = s.publish_ok(T, 'still here')
        expect_eq(subs[3].next_event(scaled(5))['id'], uid, 'the remaining subscriber')
        subs[3].close()
        H.wait_for(lambda: s.stats()['subscribers'] == 0, scaled(2 * HB + 1.5),
                   'the last subscriber to be reaped')


def test_hubd_sigkill_and_back():
    with apache_stack(heartbeat=2) as s:
        sub = s.subscribe(T)
        seen = [s.publish_ok(T, 'before %d' % i) for i in range(3)]
        expect_eq([e['id'] for e in sub.events(3, scaled(5))], seen, 'live updates')
        # Acknowledged but never read by anyone: must survive the kill.
        unread = [s.publish_ok(T, 'unread %d' % i) for i in range(3)]
        s.kill_hubd(signal.SIGKILL)

        # The front answers promptly: the open stream ends, a new
        # subscription and a publish get 503 (or a closed connection).
        t0 = time.monotonic()
        sub.wait_closed(scaled(10))
        took = time.monotonic() - t0
        print('# the open stream ended %.0f ms after the kill' % (took * 1000))
        expect(took < scaled(2), 'the open stream ended only %.1fs after the kill', took)
        got = [sub.parser.sse.events.popleft()['id'] for _ in range(sub.pending_events())]
        expect(set(got) <= set(unread), 'only updates sent before the kill: %r', got)
        sub.close()
        for what, call in (
                ('subscribe', lambda: s.request('GET', s.subscribe_target(T), timeout=scaled(5))),
                ('publish', lambda: s.publish(T, 'while dead', timeout=scaled(5)))):
            t0 = time.monotonic()
            try:
                st = call()[0]
            except OSError as e:   # a closed connection is fine; a hang is not
                st = 'closed (%r)' % e
            took = time.monotonic() - t0
            print('# %s while hubd is dead: %s in %.0f ms' % (what, st, took * 1000))
            expect(st == 503 or str(st).startswith('closed'), '%s while hubd is dead: %r',
                   what, st)
            expect(took < scaled(3), '%s while hubd is dead took %.1fs', what, took)

        s.start_hubd()
        sub = s.subscribe(T, last_event_id=seen[-1])
        expect_eq(sub.status, 200, 'subscribe after the restart')
        expect_eq([e['id'] for e in sub.events(3, scaled(10))], unread,
                  'resumed after the last update seen, nothing lost')
        live = s.publish_ok(T, 'after restart')
        ev = sub.next_event(scaled(5))
        expect_eq(ev['id'], live, 'then live, no duplicates')
        sub.close()


def test_200_streams_burst():
    N, BURST = 200, 100
    with apache_stack(heartbeat=20, apache_workers=N + 64) as s:
        sel = selectors.DefaultSelector()
        conns = []
        target = s.subscribe_target(T)
        try:
            for i in range(N):
                c = test_scale.Conn(s.host, s.port, target, i)
                sel.register(c.sock, selectors.EVENT_WRITE, c)
                conns.append(c)
            test_scale.pump(sel, lambda: all(c.open or c.error for c in conns), scaled(60),
                            '%d subscribers to open' % N)
            bad = [(c.i, c.error, c.parser.status) for c in conns if c.error]
            expect(not bad, '%d subscribers failed to open, e.g. %r', len(bad), bad[:3])
            H.wait_for(lambda: s.stats()['subscribers'] == N, scaled(20),
                       'hubd to count %d subscribers' % N)
            pub = H.Publisher(s, [T], BURST, prefix='burst')
            t0 = time.monotonic()
            pub.start()
            try:
                test_scale.pump(sel, lambda: (not pub.is_alive() and len(pub.acked) < BURST)
                                or all(len(c.ids) >= BURST or c.error for c in conns),
                                scaled(120), 'every subscriber to receive %d updates' % BURST)
            finally:
                pub.stop_flag.set()
                pub.join(scaled(30))
            expect(not pub.errors, 'publish errors: %r', pub.errors[:3])
            want = [uid for uid, _ in pub.acked]
            expect_eq(len(want), BURST, 'acknowledged publishes')
            bad = [(c.i, c.error, len(c.ids)) for c in conns if c.ids != want]
            expect(not bad, '%d of %d streams did not get the burst complete and in order, '
                   'e.g. %r', len(bad), N, bad[:3])
            print('# %d streams x %d updates through Apache in %.2fs'
                  % (N, BURST, time.monotonic() - t0))
        finally:
            for c in conns:
                c.close()
            sel.close()


def main():
    binary = H.apache_binary()
    mod = os.path.join(H.apache_modules_dir(), 'mod_proxy_fcgi.so')
    if binary is None or not os.path.exists(mod):
        why = ('apache2 not found' if binary is None else '%s not found' % mod)
        if CI:
            print('not ok - the Apache test cannot run in CI (%s; apt-get install apache2)' % why)
            print('0 passed, 1 failed')
            sys.exit(1)
        print('# SKIP %s (apt-get install apache2)' % why)
        sys.exit(77)
    H.run_tests(globals())


if __name__ == '__main__':
    main()
