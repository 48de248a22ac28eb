#!/usr/bin/env python3
"""test_publish_listener.py -- hubd's own HTTP endpoint for publishers
(--publish-listen): updates posted there reach subscribers of the web
server's endpoint; it answers every bad publish exactly as the public
endpoint does (the publish checks of test_bad_input.py run against it);
bad HTTP, wrong paths and methods, oversized requests and clients that
leave early get their status and lose nothing; a bad setting stops hubd
with a clear message."""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402
import test_bad_input  # noqa: E402

T = 'https://example.com/direct'
HUB = H.HUB_PATH
FORM = {'Content-Type': 'application/x-www-form-urlencoded'}


class DirectStack(Stack):
    """A stack whose publishes (POST to the hub's path) go to hubd's publish
    listener; subscriptions and history still go through the front."""
    routed = 0  # publishes sent to the listener, over every instance

    def __init__(self, *args, **kw):
        kw['publish_listen'] = True
        super().__init__(*args, **kw)

    def request(self, method, target, body=None, headers=None, timeout=30.0, port=None):
        if method == 'POST' and target.split('?')[0] == HUB and port is None:
            port = self.publish_port
            DirectStack.routed += 1
        return super().request(method, target, body, headers, timeout, port)


def test_same_answers_as_the_front():
    """test_bad_input's publish checks (401, 403, 400, 409, idempotent
    retry, 415), each ending with a publish-and-receive check, run with
    every publish posted to the listener."""
    original = test_bad_input.Stack
    test_bad_input.Stack = DirectStack
    DirectStack.routed = 0
    try:
        for name in ('test_auth_401', 'test_auth_403', 'test_publish_400', 'test_publish_409',
                     'test_publish_retry_is_idempotent', 'test_publish_415'):
            try:
                getattr(test_bad_input, name)()
            except AssertionError as e:
                raise AssertionError('%s over the publish listener: %s' % (name, e)) from e
    finally:
        test_bad_input.Stack = original
    expect(DirectStack.routed >= 40, 'only %d publishes went to the listener', DirectStack.routed)


def direct_conn(s, timeout=30.0):
    return http.client.HTTPConnection('127.0.0.1', s.publish_port, timeout=timeout)


def post(conn, body, token, headers=None):
    h = dict(FORM, Authorization='Bearer ' + token)
    h.update(headers or {})
    conn.request('POST', HUB, body=body.encode(), headers=h)
    r = conn.getresponse()
    return r.status, r.headers, r.read().decode('utf-8', 'replace')


def test_publishes_reach_subscribers_over_keep_alive():
    with Stack(publish_listen=True) as s:
        sub = s.subscribe(T)
        expect_eq(sub.status, 200, 'subscribe through the front')
        conn = direct_conn(s)
        tok = s.token(publish=[T])
        ids = []
        for i in range(5):
            st, h, body = post(conn, s.publish_body(T, 'update %d' % i, type='t'), tok)
            expect_eq(st, 200, 'publish %d (%r)' % (i, body))
            expect_eq(h.get('Content-Type'), 'text/plain; charset=utf-8', 'content type')
            ids.append(body)
        # One connection carried all five (keep-alive), and the answers
        # carry the ids the subscriber sees, in order.
        expect(conn.sock is not None, 'the connection was closed between publishes')
        conn.close()
        evs = sub.events(5, scaled(10))
        expect_eq([(e['id'], e['data'], e['event']) for e in evs],
                  [(ids[i], 'update %d' % i, 't') for i in range(5)], 'events')
        st, _, items = s.history(T)
        expect_eq([it['id'] for it in items], ids, 'history')
        # A chosen id, and a private update the anonymous subscriber must
        # not see.
        st, _, body = s.publish(T, 'mine', id='urn:direct:1', direct=True)
        expect_eq((st, body), (200, 'urn:direct:1'), 'publish with an id')
        st, _, body = s.publish(T, 'secret', private=True, direct=True)
        expect_eq(st, 200, 'private publish')
        last = s.publish_ok(T, 'public again', direct=True)
        evs = sub.events(2, scaled(10))
        expect_eq([e['id'] for e in evs], ['urn:direct:1', last], 'private update withheld')
        sub.close()


def raw_exchange(port, data, timeout=5.0):
    """Sends data on a new connection, returns everything read until the
    server closes or timeout passes (then b'<timeout>' is appended)."""
    s = socket.create_connection(('127.0.0.1', port), timeout)
    out = b''
    try:
        s.sendall(data)
        s.settimeout(timeout)
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        out += b'<timeout>'
    except ConnectionResetError:
        out += b'<reset>'
    finally:
        s.close()
    return out


def status_of(raw):
    line = raw.split(b'\r\n', 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b'HTTP/') else None


def test_bad_http_gets_its_status():
    with Stack(publish_listen=True, extra_hubd_args=['--max-update-size', '4096']) as s:
        tok = s.token()
        auth = dict(FORM, Authorization='Bearer ' + tok)
        port = s.publish_port
        st, _, body = s.request('POST', HUB + '/history', s.publish_body(T, 'x'), auth, port=port)
        expect_eq(st, 404, 'another path (%r)' % body)
        st, _, _ = s.request('POST', '/', s.publish_body(T, 'x'), auth, port=port)
        expect_eq(st, 404, 'the root')
        for method in ('GET', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'):
            st, h, body = s.request(method, HUB + '?topic=x', None, auth, port=port)
            expect_eq(st, 405, 'status for %s' % method)
            expect_eq(h.get('Allow'), 'POST', 'Allow header for %s' % method)
        expect('subscribe through the web server' in body, 'the 405 says why: %r', body)
        # Data over --max-update-size, a body over the listener's limit
        # (3 x max-update-size + 64 KiB), headers over 16 KiB.
        st, _, _ = s.request('POST', HUB, s.publish_body(T, 'd' * 4097), auth, port=port)
        expect_eq(st, 413, 'data one byte over --max-update-size')
        st, _, _ = s.request('POST', HUB, 'x' * (3 * 4096 + 65536 + 1), auth, port=port)
        expect_eq(st, 413, 'a body over the limit')
        raw = raw_exchange(port, b'POST ' + HUB.encode() + b' HTTP/1.1\r\nHost: x\r\n'
                           b'X-Big: ' + b'a' * 17000 + b'\r\nContent-Length: 0\r\n\r\n')
        expect(status_of(raw) in (400, 413, 431), 'headers over 16 KiB: %r', raw[:80])
        raw = raw_exchange(port, b'POST ' + HUB.encode() + b' HTTP/1.1\r\nHost: x\r\n'
                           b'Transfer-Encoding: chunked\r\n\r\n'
                           b'20000\r\n' + b'a' * 0x20000 + b'\r\n0\r\n\r\n')
        expect_eq(status_of(raw), 413, 'a chunked body over the limit')
        for name, req in (('garbage', b'GARBAGE\r\n\r\n'),
                          ('negative length', b'POST ' + HUB.encode() +
                           b' HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n'),
                          ('bad chunk size', b'POST ' + HUB.encode() +
                           b' HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
                          ('NUL in the request line', b'POST /\x00 HTTP/1.1\r\n\r\n')):
            raw = raw_exchange(port, req)
            # evhttp answers some of these 413 or 501: any refusal will do.
            st = status_of(raw)
            expect((st is not None and 400 <= st < 600) or raw in (b'', b'<reset>'),
                   '%s answered %r', name, raw[:80])
        raw = raw_exchange(port, b'BREW ' + HUB.encode() + b' HTTP/1.1\r\nHost: x\r\n\r\n')
        expect(status_of(raw) in (405, 501), 'an unknown method: %r', raw[:80])
        # Two publishes pipelined on one connection: both answered, in order.
        b1, b2 = s.publish_body(T, 'pipe 1'), s.publish_body(T, 'pipe 2')
        head = ('POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                'Content-Type: application/x-www-form-urlencoded\r\n' % (HUB, tok))
        req = b''
        for b, last in ((b1, False), (b2, True)):
            req += (head + ('Connection: close\r\n' if last else '') +
                    'Content-Length: %d\r\n\r\n%s' % (len(b), b)).encode()
        raw = raw_exchange(port, req)
        expect_eq(raw.count(b'HTTP/1.1 200'), 2, 'pipelined answers (%r)' % raw[:300])
        st, _, items = s.history(T)
        expect_eq([it['data'] for it in items], ['pipe 1', 'pipe 2'], 'what was stored')
        s.check_pubsub()
        expect_eq(s.hubd.poll(), None, 'hubd still runs')


def test_client_leaving_early_loses_nothing():
    """Publishers that close their connection right after sending (before
    the answer): every update is still stored once, and hubd is fine."""
    with Stack(publish_listen=True) as s:
        sub = s.subscribe(T)
        tok = s.token()
        n = 20
        for i in range(n):
            b = s.publish_body(T, 'gone %d' % i)
            req = ('POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                   'Content-Type: application/x-www-form-urlencoded\r\n'
                   'Content-Length: %d\r\n\r\n%s' % (HUB, tok, len(b), b)).encode()
            c = socket.create_connection(('127.0.0.1', s.publish_port), 5)
            c.sendall(req)
            c.close()
        evs = sub.events(n, scaled(10))
        expect_eq(sorted(e['data'] for e in evs), sorted('gone %d' % i for i in range(n)),
                  'every update delivered')
        st, _, items = s.history(T)
        expect_eq(len(items), n, 'every update stored once')
        # A connection that sends half a request and stalls does not hold
        # up anyone else.
        stalled = socket.create_connection(('127.0.0.1', s.publish_port), 5)
        stalled.sendall(b'POST ' + HUB.encode() + b' HTTP/1.1\r\nContent-Length: 100\r\n\r\nab')
        uid = s.publish_ok(T, 'past the stall', direct=True, timeout=scaled(5))
        ev = sub.next_event(scaled(5))
        expect_eq((ev['id'], ev['data']), (uid, 'past the stall'), 'the update after the stall')
        stalled.close()
        sub.close()


def test_cookie_publish_needs_a_listed_origin():
    app = 'https://app.example'
    with Stack(publish_listen=True, extra_hubd_args=['--publish-origins', app]) as s:
        cookie = {'Cookie': 'mercureAuthorization=' + s.token()}
        st, _, body = s.publish(T, 'x', token=None, headers=cookie, direct=True)
        expect_eq(st, 403, 'cookie publish without Origin (%r)' % body)
        st, _, _ = s.publish(T, 'x', token=None, headers=dict(cookie, Origin='https://evil.example'),
                             direct=True)
        expect_eq(st, 403, 'cookie publish from another origin')
        st, _, _ = s.publish(T, 'x', token=None, headers=dict(cookie, Origin=app), direct=True)
        expect_eq(st, 200, 'cookie publish from the listed origin')
        # The authorization query parameter is a token source too.
        st, _, _ = s.request('POST', HUB + '?authorization=' + s.token(), s.publish_body(T, 'q'),
                             FORM, port=s.publish_port)
        expect_eq(st, 200, 'token in the query')


def test_concurrent_publishers():
    """8 keep-alive publishers at once: every publish acknowledged with its
    own id, every update stored, each publisher's in its order."""
    per = 40 if H.VALGRIND else 200
    with Stack(publish_listen=True) as s:
        tok = s.token()
        results = {}

        def run(k):
            conn = direct_conn(s)
            got = []
            for i in range(per):
                st, _, body = post(conn, s.publish_body('%s/%d' % (T, k), '%d' % i), tok)
                got.append((st, body))
            conn.close()
            results[k] = got

        threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(60))
        expect_eq(sorted(results), list(range(8)), 'publishers finished')
        ids = set()
        for k in range(8):
            expect_eq({st for st, _ in results[k]}, {200}, 'statuses of publisher %d' % k)
            ids.update(body for _, body in results[k])
            st, _, items = s.history('%s/%d' % (T, k), limit=per)
            expect_eq([it['data'] for it in items], [str(i) for i in range(per)],
                      'history of publisher %d' % k)
            expect_eq([it['id'] for it in items], [b for _, b in results[k]], 'ids of %d' % k)
        expect_eq(len(ids), 8 * per, 'distinct ids')


def hubd_refuses(s, args):
    argv = [H.program('hubd/hubd'), '--socket', os.path.join(s.tmpdir, 'other.sock'),
            '--db', os.path.join(s.tmpdir, 'other.db')] + args
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return p.returncode, p.stderr.decode('utf-8', 'replace')


def test_bad_setting_stops_hubd_with_a_reason():
    with Stack(publish_listen=True) as s:
        for bad in ('3001', 'localhost:3001', '127.0.0.1:', '127.0.0.1:0', '127.0.0.1:70000',
                    '::1:3001', ''):
            rc, err = hubd_refuses(s, ['--publish-listen', bad])
            expect_eq(rc, 2, 'exit status for %r (%s)' % (bad, err))
            expect('publish-listen: expected ADDRESS:PORT' in err, 'message for %r: %r', bad, err)
        # The port is taken (by this stack's hubd).
        rc, err = hubd_refuses(s, ['--publish-listen', '127.0.0.1:%d' % s.publish_port])
        expect(rc != 0 and 'cannot listen on 127.0.0.1:%d' % s.publish_port in err,
               'a taken port: %s %r', rc, err)
        s.check_pubsub()


def test_sigterm_with_open_connections():
    """hubd stops cleanly (status 0) with idle keep-alive publisher
    connections open, and a restarted hubd takes publishes again."""
    with Stack(publish_listen=True) as s:
        conn = direct_conn(s)
        st, _, first = post(conn, s.publish_body(T, 'before'), s.token())
        expect_eq(st, 200, 'publish before the restart')
        t0 = time.monotonic()
        expect_eq(s.kill_hubd(), 0, 'exit status with an open publisher connection')
        expect(time.monotonic() - t0 < scaled(5), 'stop took %.1fs', time.monotonic() - t0)
        conn.close()
        s.start_hubd()
        st, _, body = s.publish(T, 'after', direct=True)
        expect_eq(st, 200, 'publish after the restart (%r)' % body)
        st, _, items = s.history(T)
        expect_eq([it['data'] for it in items], ['before', 'after'], 'history across it')


def test_sigterm_under_load_loses_no_acknowledged_update():
    """hubd stopped while 8 publishers post as fast as they can: every
    publish answered 200 is in the history after the restart, and every
    publisher got an answer or a closed connection, never a hang."""
    with Stack(publish_listen=True) as s:
        tok = s.token()
        acked = [[] for _ in range(8)]
        stop = threading.Event()

        def run(k):
            i = 0
            while not stop.is_set():
                try:
                    conn = direct_conn(s, timeout=scaled(10))
                    while not stop.is_set():
                        data = '%d-%d' % (k, i)
                        st, _, body = post(conn, s.publish_body(T, data), tok)
                        i += 1
                        if st == 200:
                            acked[k].append((body, data))
                except (OSError, http.client.HTTPException):
                    time.sleep(0.01)  # hubd is gone or going: try again

        threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        H.wait_for(lambda: sum(map(len, acked)) >= 200, scaled(20), 'publishes before the stop')
        expect_eq(s.kill_hubd(), 0, 'exit status when stopped under load')
        stop.set()
        for t in threads:
            t.join(scaled(20))
        expect(not any(t.is_alive() for t in threads), 'a publisher hung')
        s.start_hubd()
        stored = {}
        after = None
        while True:
            st, h, items = s.history(T, after=after, limit=1000)
            expect_eq(st, 200, 'history after the restart')
            for it in items:
                stored[it['id']] = it['data']
            if len(items) < 1000:
                break
            after = items[-1]['id']
        lost = [(i, d) for k in range(8) for i, d in acked[k] if stored.get(i) != d]
        expect(not lost, '%d acknowledged updates lost, e.g. %r', len(lost), lost[:3])
        expect(sum(map(len, acked)) >= 200, 'too few publishes to mean anything')


if __name__ == '__main__':
    H.run_tests(globals())
