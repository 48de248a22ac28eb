#!/usr/bin/env python3
"""test_cgi.py -- the hub as a plain CGI program (hub.cgi, run once per
request) behind lighttpd mod_cgi and behind Apache mod_cgid, as
contrib/lighttpd/hubd-cgi.conf and contrib/apache/hubd-cgi.conf set it up.

In CGI mode hub.cgi hands hubd its stdout (a pipe from lighttpd, a Unix
socket from mod_cgid) and exits; hubd writes the raw SSE bytes (no FastCGI
framing) and notices a departed client only when a write fails (on mod_cgid
that socket is also the CGI's stdin and its write side is shut at once, so
read-EOF means nothing).

Every check runs on both fronts: subscribe + publish + receive (multi-line
data too), history and routing, Last-Event-ID replay, a departed client
reaped within two heartbeats, hubd SIGKILLed and back with nothing lost,
and 50 concurrent streams receiving a burst complete and in order.

A front whose server or CGI module is missing is skipped (exit 77 when
both are), except when CI is set: then that fails."""

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
T = 'https://example.com/cgi/1'
FRONTS = ('lighttpd-cgi', 'apache-cgi')


def check_subscribe_publish_receive(front):
    with Stack(front=front) as s:
        sub = s.subscribe(T, wait_ok=False)
        expect_eq(sub.status, 200, 'subscribe status')
        expect_eq(sub.header('content-type'), 'text/event-stream', 'content type')
        expect(sub.header('content-encoding') is None, 'the stream is not compressed')
        server = sub.header('server') or ''
        expect(('Apache' in server) == front.startswith('apache'),
               'served by the %s front: %r', front, server)
        ids = []
        for i, data in enumerate(('hello', 'two\nlines', 'cr\rcrlf\r\nlf\nend', '')):
            t0 = time.monotonic()
            uid = s.publish_ok(T, data, type='greeting')
            ev = sub.next_event(scaled(5))
            print('# update %d arrived %.1f ms after the publish was acknowledged'
                  % (i, (time.monotonic() - t0) * 1000))
            want = data.replace('\r\n', '\n').replace('\r', '\n')
            expect_eq((ev['id'], ev['data'], ev['event']), (uid, want, 'greeting'),
                      'the update')
            ids.append(uid)
        # History and the subscriptions path reach hub.cgi: it routes by
        # REQUEST_URI (PATH_INFO is decoded, and lighttpd even merges the
        # // of https:// in it).
        st, _, body = s.history(T)
        expect_eq(st, 200, 'history status')
        expect_eq([u['id'] for u in body][-len(ids):], ids, 'history ids')
        st, _, body = s.history(T, after=ids[1])
        expect_eq((st, [u['id'] for u in body]), (200, ids[2:]), 'history after an id')
        st, _, body = s.request('GET', '/.well-known/mercure/subscriptions/'
                                + urllib.parse.quote(T, safe=''))
        expect(st in (200, 401, 404) and 'not found' != body.strip(),
               'subscriptions path routed to the hub: %r %r', st, body)
        st, _, body = s.request('GET', '/.well-known/mercure/nothing-here')
        expect_eq((st, body.strip()), (404, 'not found'), 'an unknown path under the hub')
        # The Authorization header does reach hub.cgi, or every publish
        # above had failed; without it, 401.
        st, _, _ = s.publish(T, 'x', token=None)
        expect_eq(st, 401, 'publish without a token')
        st, _, _ = s.request('GET', '/')
        expect_eq(st, 200, 'the static page next to the hub')
        sub.close()


def check_last_event_id_replay(front):
    with Stack(front=front) as s:
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
        sub = s.subscribe(T, last_event_id='earliest')
        expect_eq([e['id'] for e in sub.events(6, scaled(5))], ids + [live], 'earliest')
        sub.close()


def check_departed_client_reaped(front):
    HB = 1
    with Stack(front=front, heartbeat=HB) as s:
        subs = [s.subscribe(T) for _ in range(4)]
        H.wait_for(lambda: s.stats()['subscribers'] == 4, scaled(5), '4 subscribers')
        # On mod_cgid the stream's socket reads EOF from the start: a
        # second of heartbeats must not have closed any stream.
        time.sleep(HB * 1.5)
        expect_eq(s.stats()['subscribers'], 4, 'subscribers after a heartbeat')
        uid = s.publish_ok(T, 'all here')
        for i, sub in enumerate(subs):
            expect_eq(sub.next_event(scaled(5))['id'], uid, 'subscriber %d' % i)
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


def check_hubd_sigkill_and_back(front):
    with Stack(front=front, heartbeat=2) as s:
        sub = s.subscribe(T)
        seen = [s.publish_ok(T, 'before %d' % i) for i in range(3)]
        expect_eq([e['id'] for e in sub.events(3, scaled(5))], seen, 'live updates')
        # Acknowledged but never read by anyone: must survive the kill.
        unread = [s.publish_ok(T, 'unread %d' % i) for i in range(3)]
        s.kill_hubd(signal.SIGKILL)

        # The open stream ends promptly; a new subscription and a publish
        # get 503 (or a closed connection), never a hang.
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


def check_50_streams_burst(front):
    # Each CGI stream holds a server thread (Apache) or a pipe (lighttpd):
    # kept small on purpose.
    N, BURST = 50, 100
    with Stack(front=front, heartbeat=20, apache_workers=N + 64) as s:
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
            pub = H.Publisher(s, [T], BURST, prefix='burst\nline2')
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
            print('# %d streams x %d updates through %s in %.2fs'
                  % (N, BURST, front, time.monotonic() - t0))
        finally:
            for c in conns:
                c.close()
            sel.close()


def missing(front):
    """Why front cannot run here, or None."""
    if front == 'lighttpd-cgi':
        try:
            H.lighttpd_binary()
        except RuntimeError:
            return 'lighttpd not found'
        for d in ('/usr/lib/lighttpd', '/usr/lib64/lighttpd', '/usr/local/lib/lighttpd'):
            if os.path.exists(os.path.join(d, 'mod_cgi.so')):
                return None
        return 'lighttpd mod_cgi.so not found'
    if H.apache_binary() is None:
        return 'apache2 not found'
    mod = os.path.join(H.apache_modules_dir(), 'mod_cgid.so')
    return None if os.path.exists(mod) else '%s not found' % mod


CHECKS = (check_subscribe_publish_receive, check_last_event_id_replay,
          check_departed_client_reaped, check_hubd_sigkill_and_back,
          check_50_streams_burst)


def main():
    tests = {}
    why = {}
    for front in FRONTS:
        why[front] = missing(front)
        if why[front] is not None:
            print('# %s: %s' % (front, why[front]))
            continue
        for fn in CHECKS:
            name = 'test_%s_%s' % (front.replace('-', '_'), fn.__name__[len('check_'):])
            tests[name] = (lambda fn=fn, front=front: fn(front))
    skipped = [f for f in FRONTS if why[f] is not None]
    if skipped and CI:
        print('not ok - the CGI fronts cannot all run in CI (%s; apt-get install '
              'lighttpd apache2)' % '; '.join(why[f] for f in skipped))
        print('0 passed, 1 failed')
        sys.exit(1)
    if not tests:
        print('# SKIP no CGI front can run here')
        sys.exit(77)
    tests['__file__'] = __file__
    H.run_tests(tests)


if __name__ == '__main__':
    main()
