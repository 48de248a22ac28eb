"""front_checks.py -- the checks every web-server front must pass, run by
test_apache.py (Apache mod_proxy_fcgi), test_nginx.py (nginx FastCGI),
test_cgi.py (lighttpd mod_cgi, Apache mod_cgid) and test_lifecycle.py
(lighttpd FastCGI, reaping):
subscribe + publish + receive (multi-line data, history, routing),
Last-Event-ID replay, a departed client reaped within two heartbeats (and
live clients kept: on mod_cgid read-EOF means nothing), hubd SIGKILLed and
back with nothing lost, and N concurrent streams receiving a burst complete
and in order. main() runs them on a list of fronts, skipping (exit 77) a
front whose server or module is missing, except in CI, where that fails."""

import json
import os
import signal
import sys
import time
import urllib.parse

import harness as H
import streams
from harness import Stack, expect, expect_eq, scaled

CI = os.environ.get('CI', '').lower() not in ('', '0', 'false', 'no')
T = 'https://example.com/front/1'


def check_subscribe_publish_receive(front):
    with Stack(front=front) as s:
        sub = s.subscribe(T, wait_ok=False)
        expect_eq(sub.status, 200, 'subscribe status')
        expect_eq(sub.header('content-type'), 'text/event-stream', 'content type')
        expect(sub.header('content-encoding') is None, 'the stream is not compressed')
        server = sub.header('server') or ''
        for name in ('Apache', 'nginx'):
            expect((name in server) == front.startswith(name.lower()),
                   'served by the %s front: %r', front, server)
        ids = []
        for i, data in enumerate(('hello', 'two\nlines', 'cr\rcrlf\r\nlf\nend', '')):
            t0 = time.monotonic()
            uid = s.publish_ok(T, data, type='greeting')
            t1 = time.monotonic()
            ev = sub.next_event(scaled(5))
            print('# update %d: publish answered in %.1f ms, the update read %.1f ms later'
                  % (i, (t1 - t0) * 1000, (time.monotonic() - t1) * 1000))
            want = data.replace('\r\n', '\n').replace('\r', '\n')
            expect_eq((ev['id'], ev['data'], ev['event']), (uid, want, 'greeting'),
                      'the update')
            ids.append(uid)
        # History and the subscriptions path reach the handler: it routes
        # by REQUEST_URI (PATH_INFO is decoded on CGI fronts, and lighttpd
        # even merges the // of https:// in it).
        st, _, body = s.history(T)
        expect_eq(st, 200, 'history status')
        expect_eq([u['id'] for u in body][-len(ids):], ids, 'history ids')
        st, _, body = s.history(T, after=ids[1])
        expect_eq((st, [u['id'] for u in body]), (200, ids[2:]), 'history after an id')
        st, _, body = s.request('GET', '/.well-known/mercure/subscriptions/'
                                + urllib.parse.quote(T, safe=''))
        expect(st in (200, 401, 404) and 'not found' != body.strip(),
               'subscriptions path routed to the hub: %r %r', st, body)
        # Mercure 1.0 discovery: the metadata path reaches the hub too.
        st, h, body = s.request('GET', H.METADATA_PATH)
        expect_eq((st, h['Content-Type']), (200, 'application/json'), 'metadata: %r' % body)
        expect_eq(json.loads(body)['resource'], s.base_url + H.HUB_PATH, 'metadata resource')
        # A QUERY subscribe (draft-08: matchers in a form body) reaches the
        # hub too: a body that is no form is the hub's 415, not the front's.
        st, _, body = s.request('QUERY', H.HUB_PATH, body='match=a',
                                headers={'Content-Type': 'text/plain'})
        expect_eq(st, 415, 'QUERY with a text body: %r' % body)
        st, _, body = s.request('GET', '/.well-known/mercure/nothing-here')
        expect_eq((st, body.strip()), (404, 'not found'), 'an unknown path under the hub')
        # The Authorization header does reach the handler, or every publish
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
        # Live clients are kept: a heartbeat and a half must not close any
        # stream (on mod_cgid the stream's socket reads EOF from the start).
        time.sleep(HB * 1.5)
        expect_eq(s.stats()['subscribers'], 4, 'subscribers after a heartbeat')
        uid = s.publish_ok(T, 'all here')
        for i, sub in enumerate(subs):
            expect_eq(sub.next_event(scaled(5))['id'], uid, 'subscriber %d' % i)
        subs[0].close()
        subs[1].close(reset=True)
        subs[2].sock.shutdown(H.socket.SHUT_WR)  # half-close, then close
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


def check_streams_burst(front, n):
    BURST = 100
    with Stack(front=front, heartbeat=20, apache_workers=n + 64) as s:
        t_open, t_burst = streams.open_and_burst(s, T, n, BURST, prefix='burst\nline2')
        print('# %d streams x %d updates through %s in %.2fs' % (n, BURST, front, t_burst))


def missing(front):
    """Why front cannot run here, or None."""
    if front in ('lighttpd', 'lighttpd-cgi'):
        try:
            H.lighttpd_binary()
        except RuntimeError:
            return 'lighttpd not found'
        if front == 'lighttpd':
            return None
        for d in ('/usr/lib/lighttpd', '/usr/lib64/lighttpd', '/usr/local/lib/lighttpd'):
            if os.path.exists(os.path.join(d, 'mod_cgi.so')):
                return None
        return 'lighttpd mod_cgi.so not found'
    if front == 'nginx':
        if not H.nginx_binary():
            return 'nginx not found'
        if not os.path.exists(H.NGINX_FASTCGI_PARAMS):
            return '%s not found' % H.NGINX_FASTCGI_PARAMS
        return None
    if H.apache_binary() is None:
        return 'apache2 not found'
    mod = os.path.join(H.apache_modules_dir(), {'apache-cgi': 'mod_cgid.so',
                                                'apache-fcgid': 'mod_fcgid.so'}.get(
                                                    front, 'mod_proxy_fcgi.so'))
    return None if os.path.exists(mod) else '%s not found' % mod


def main(fronts, streams_n, test_file, extra=None):
    """Runs every check on each front (the burst with streams_n streams),
    then the front's own tests: extra, a dict test name -> function, run
    only when every front can run."""
    checks = (check_subscribe_publish_receive, check_last_event_id_replay,
              check_departed_client_reaped, check_hubd_sigkill_and_back,
              lambda front: check_streams_burst(front, streams_n))
    names = ('subscribe_publish_receive', 'last_event_id_replay', 'departed_client_reaped',
             'hubd_sigkill_and_back', '%d_streams_burst' % streams_n)
    by_front = {}
    for front in fronts:
        prefix = 'test_' if len(fronts) == 1 else 'test_%s_' % front.replace('-', '_')
        by_front[front] = {prefix + name: (lambda fn=fn, front=front: fn(front))
                           for fn, name in zip(checks, names)}
    run_where_possible(by_front, test_file, extra)


def skip(why):
    """Ends a test program as skipped (exit 77), with a result line."""
    print('# SKIP %s' % why)
    print('0 passed, 0 failed')
    sys.exit(77)


def run_where_possible(by_front, test_file, extra=None):
    """Runs the tests of by_front (front -> {test name: function}) whose
    front can run here; the others are skipped loudly, or fail the program
    in CI, where every front must run. extra ({name: function}) runs only
    when every front can."""
    tests, skipped = {}, []
    for front, fns in by_front.items():
        why = missing(front)
        if why is None:
            tests.update(fns)
        else:
            print('# %s: %s' % (front, why))
            skipped.append(why)
    if skipped and CI:
        print('not ok - these fronts cannot run in CI (%s; contrib/quickstart test '
              'installs them)' % '; '.join(skipped))
        print('0 passed, 1 failed')
        sys.exit(1)
    if not tests:
        skip('no front can run here')
    if not skipped:
        tests.update(extra or {})
    tests['__file__'] = test_file
    H.run_tests(tests)
