#!/usr/bin/env python3
"""test_bad_input.py -- every kind of bad request gets its status, every
malformed control message closes only its own peer, and hubd keeps serving
after each batch."""

import json
import os
import select
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

T = 'https://example.com/bad'
HUB = H.HUB_PATH
FORM = {'Content-Type': 'application/x-www-form-urlencoded'}


def test_auth_401():
    with Stack(jwt_key='the-right-key') as s:
        good = s.token()
        head, claims, sig = good.split('.')
        tampered = head + '.' + claims + '.' + ('A' if sig[0] != 'A' else 'B') + sig[1:]
        forged_claims = H.b64url(json.dumps({'mercure': {'publish': ['*']}, 'admin': True}))
        cases = [
            ('no token', None, {}),
            ('bad signature', tampered, {}),
            ('claims changed under the signature', head + '.' + forged_claims + '.' + sig, {}),
            ('expired', s.token(exp=-60), {}),
            ('alg none', s.token(alg='none'), {}),
            ('alg none, signature kept', H.make_jwt({'mercure': {'publish': ['*']}}, None,
                                                    'none') + sig, {}),
            ('wrong key', s.token(key='not-the-key'), {}),
            ('not a JWT', 'not-a-jwt', {}),
            ('empty bearer', '', {}),
            ('two dots only', '..', {}),
        ]
        for name, tok, _ in cases:
            h = dict(FORM)
            if tok is not None:
                h['Authorization'] = 'Bearer ' + tok
            st, hdrs, body = s.request('POST', HUB, s.publish_body(T, 'x'), h)
            expect_eq(st, 401, 'status for %s' % name)
            expect((hdrs.get('WWW-Authenticate') or '').lower().startswith('bearer'),
                   '%s: 401 without "WWW-Authenticate: Bearer" (%r)', name,
                   hdrs.get('WWW-Authenticate'))
        # Other schemes are not a bearer token.
        st, _, _ = s.request('POST', HUB, s.publish_body(T, 'x'),
                             dict(FORM, Authorization='Basic dXNlcjpwYXNz'))
        expect_eq(st, 401, 'status for Basic auth')
        # A token without the publish claim cannot publish.
        st, _, _ = s.publish(T, 'x', token=s.token(publish=None, subscribe=['*']))
        expect(st in (401, 403), 'token without mercure.publish: %s', st)
        # The good token works: the failures were about the tokens.
        st, _, _ = s.publish(T, 'x', token=good)
        expect_eq(st, 200, 'status with the right token')
        st, _, _ = s.publish(T, 'x', token=s.token(exp=3600))
        expect_eq(st, 200, 'status with an unexpired token')
        s.check_pubsub()


def test_auth_403():
    with Stack() as s:
        tok = s.token(publish=[T])
        st, _, _ = s.publish('https://example.com/elsewhere', 'x', token=tok)
        expect_eq(st, 403, 'topic not in the publish claim')
        st, _, _ = s.publish([T, 'https://example.com/elsewhere'], 'x', token=tok)
        expect_eq(st, 403, 'second topic not covered')
        st, _, _ = s.publish(T, 'x', token=s.token(publish=[]))
        expect_eq(st, 403, 'empty publish claim')
        st, _, body = s.publish([T, T], 'x', token=tok)
        expect_eq(st, 200, 'every topic covered (%r)' % body)
        st, _, _ = s.publish(T, 'x', token=s.token(publish=['https://example.com/other', T]))
        expect_eq(st, 200, 'topic listed second in the claim')
        s.check_pubsub()


def test_publish_400():
    with Stack() as s:
        tok = s.token()
        auth = dict(FORM, Authorization='Bearer ' + tok)
        cases = [
            ('no topic', 'data=x'),
            ('empty body', ''),
            ('bad percent-encoding', 'topic=%ZZ&data=x'),
            ('truncated percent-encoding', 'topic=' + T + '&data=%4'),
            ('id with LF', s.publish_body(T, 'x', id='a\nb')),
            ('id with CR', s.publish_body(T, 'x', id='a\rb')),
            ('id with CRLF', s.publish_body(T, 'x', id='a\r\nid: forged')),
            ('type with LF', s.publish_body(T, 'x', type='t\ndata: forged')),
            ('type with CR', s.publish_body(T, 'x', type='t\r')),
            ('id starting with #', s.publish_body(T, 'x', id='#fragment')),
            ('retry not digits', s.publish_body(T, 'x', retry='soon')),
            ('retry negative', s.publish_body(T, 'x', retry='-1')),
            ('retry with space', s.publish_body(T, 'x', retry='10 ')),
            ('duplicate data', s.publish_body(T, 'x') + '&data=y'),
            ('duplicate id', s.publish_body(T, 'x', id='a') + '&id=b'),
            ('duplicate type', s.publish_body(T, 'x', type='a') + '&type=b'),
        ]
        for name, body in cases:
            st, _, text = s.request('POST', HUB, body, auth)
            expect_eq(st, 400, 'status for %s (body %r)' % (name, text))
        # Forged fields must not have reached anyone: nothing was stored.
        st, _, items = s.history(T)
        expect_eq((st, items), (200, []), 'nothing stored by bad requests')
        # GET without a topic: subscribe and history.
        sub = s.subscribe(None, target=HUB)
        expect_eq(sub.status, 400, 'subscribe without topic')
        sub.close()
        sub = s.subscribe(None, target=HUB + '?lastEventID=earliest')
        expect_eq(sub.status, 400, 'subscribe with lastEventID but no topic')
        sub.close()
        st, _, _ = s.request('GET', HUB + '/history')
        expect_eq(st, 400, 'history without topic')
        st, _, _ = s.request('GET', HUB + '/history?limit=5')
        expect_eq(st, 400, 'history with limit but no topic')
        s.check_pubsub()


def test_publish_409():
    with Stack() as s:
        st, _, body = s.publish(T, 'first', id='dup-1')
        expect_eq((st, body), (200, 'dup-1'), 'first publish')
        st, _, _ = s.publish(T, 'second', id='dup-1')
        expect_eq(st, 409, 'an id that is already stored')
        st, _, _ = s.publish('https://example.com/another-topic', 'third', id='dup-1')
        expect_eq(st, 409, 'an id stored under another topic')
        st, _, items = s.history(T)
        expect_eq([(it['id'], it['data']) for it in items], [('dup-1', 'first')],
                  'the first update kept')
        s.check_pubsub()


def test_publish_retry_is_idempotent():
    """A publisher that retries (same id, same content) gets 200 again; the
    update is stored and delivered once."""
    with Stack() as s:
        sub = s.subscribe(T)
        st, _, body = s.publish(T, 'once', id='retry-1', type='t')
        expect_eq((st, body), (200, 'retry-1'), 'first publish')
        st, _, body = s.publish(T, 'once', id='retry-1', type='t')
        expect_eq((st, body), (200, 'retry-1'), 'the retry is acknowledged with the same id')
        st, _, _ = s.publish(T, 'once', id='retry-1', type='other')
        expect_eq(st, 409, 'same id, another type')
        after = s.publish_ok(T, 'after')
        evs = sub.events(2, scaled(5))
        expect_eq([e['id'] for e in evs], ['retry-1', after], 'delivered once, then the next')
        st, _, items = s.history(T)
        expect_eq([it['id'] for it in items], ['retry-1', after], 'stored once')
        expect_eq(s.stats()['duplicates'], 1, 'duplicates counter')
        sub.close()


def test_publish_413():
    with Stack(extra_hubd_args=['--max-update-size', '4096'], max_body=16384) as s:
        st, _, _ = s.publish(T, 'd' * 4096)
        expect_eq(st, 200, 'data of exactly --max-update-size')
        st, _, _ = s.publish(T, 'd' * 4097)
        expect_eq(st, 413, 'data one byte over --max-update-size')
        st, _, _ = s.publish(T, 'd' * 12000)
        expect_eq(st, 413, 'data far over --max-update-size')
        # The whole body over HUBD_MAX_BODY, data within the limit.
        long_topic = 'https://example.com/' + 't' * 17000
        st, _, _ = s.publish(long_topic, 'small')
        expect_eq(st, 413, 'body over HUBD_MAX_BODY')
        st, _, _ = s.request('POST', HUB, 'x' * 100000,
                             dict(FORM, Authorization='Bearer ' + s.token()))
        expect_eq(st, 413, 'a 100 KB body over HUBD_MAX_BODY')
        s.check_pubsub()


def test_publish_415():
    with Stack() as s:
        auth = 'Bearer ' + s.token()
        body = s.publish_body(T, 'x')
        for ctype in ('application/json', 'text/plain', 'multipart/form-data; boundary=x',
                      'application/x-www-form-urlencodedX'):
            st, _, _ = s.request('POST', HUB, body, {'Content-Type': ctype,
                                                      'Authorization': auth})
            expect_eq(st, 415, 'status for Content-Type %r' % ctype)
        st, _, _ = s.request('POST', HUB, body, {'Authorization': auth})
        expect_eq(st, 415, 'status without Content-Type')
        s.check_pubsub()


def test_unknown_path_and_method():
    with Stack() as s:
        st, _, _ = s.request('GET', HUB + '/nothing-here?topic=x')
        expect_eq(st, 404, 'unknown path under the hub')
        st, _, _ = s.request('GET', HUB + '/history/extra?topic=x')
        expect_eq(st, 404, 'unknown path below history')
        for method in ('PUT', 'DELETE', 'PATCH'):
            st, h, _ = s.request(method, HUB + '?topic=x', s.publish_body(T, 'x'), FORM)
            expect_eq(st, 405, 'status for %s' % method)
            allow = {m.strip() for m in (h.get('Allow') or '').split(',')}
            expect({'GET', 'POST'} <= allow, '405 without "Allow: GET, POST": %r', h.get('Allow'))
        st, _, _ = s.request('POST', HUB + '/history?topic=x', s.publish_body(T, 'x'), FORM)
        expect_eq(st, 405, 'POST to history')
        # A query string over 64 KiB.
        sub = s.subscribe(None, target=HUB + '?topic=' + 'q' * 70000)
        expect(sub.status in (414, 431, 400), 'subscribe with a 70 KB query: %s', sub.status)
        sub.close()
        s.check_pubsub()


def test_hubd_down_503():
    with Stack() as s:
        uid = s.publish_ok(T, 'kept')
        expect_eq(s.kill_hubd(signal.SIGTERM), 0, 'hubd exit status')
        # A plain client sees the 503; an EventSource (Accept:
        # text/event-stream) the retry answer, tested in test_retry.py.
        st, h, _ = s.request('GET', s.subscribe_target(T))
        expect_eq((st, h.get('X-Hubd-Status')), (503, None), 'subscribe while hubd is down')
        sub = s.subscribe(T, wait_ok=False)
        expect_eq((sub.status, sub.header('x-hubd-status')), (200, '503'),
                  'an EventSource\'s subscribe while hubd is down')
        sub.close()
        st, _, _ = s.publish(T, 'lost')
        expect_eq(st, 503, 'publish while hubd is down')
        st, _, _ = s.history(T)
        expect_eq(st, 503, 'history while hubd is down')
        # SIGKILL leaves a stale socket file behind: still 503, and hubd
        # starts again over it.
        s.start_hubd()
        s.kill_hubd(signal.SIGKILL)
        st, _, _ = s.publish(T, 'lost')
        expect_eq(st, 503, 'publish after SIGKILL')
        s.start_hubd()
        st, _, items = s.history(T)
        expect_eq([it['id'] for it in items], [uid], 'history after restarts')
        s.check_pubsub()


# ---- the control socket, spoken to directly ---------------------------------

def ctl_request(c, mtype, payload=b'', request=7, fd=None, timeout=5.0):
    dg = H.ctl_datagram(mtype, payload, request)
    if fd is None:
        c.send(dg)
    else:
        H.ctl_send_fd(c, dg, fd)
    reply = H.ctl_recv(c, scaled(timeout))
    expect(reply, 'hubd closed the connection instead of replying')
    return H.ctl_parse(reply)


def expect_stats_ok(c, request):
    mtype, req, flags, fields = ctl_request(c, H.CTL_STATS, request=request)
    expect_eq((mtype, req), (H.CTL_OK, request), 'STATS reply type and request id')
    body = [v for t, v in fields if t == H.T_BODY]
    expect(body, 'STATS reply without BODY')
    return json.loads(body[0])


def expect_peer_closed(c, name, timeout=5.0):
    """Reads until EOF: only CTL_ERROR replies may come first."""
    for _ in range(4):
        try:
            dg = H.ctl_recv(c, scaled(timeout))
        except H.Timeout:
            raise AssertionError('%s: hubd kept the connection open' % name)
        except OSError as e:
            raise AssertionError('%s: %r' % (name, e))
        if not dg:
            return
        if len(dg) >= H.CTL_HEADER.size:
            mtype, _, _, fields = H.ctl_parse(dg)
            expect_eq(mtype, H.CTL_ERROR, '%s: reply type' % name)
            st = [v for t, v in fields if t == H.T_STATUS]
            expect(st and struct.unpack('=I', st[0])[0] == 400,
                   '%s: error status should be 400: %r', name, fields)
    raise AssertionError('%s: more than 4 replies' % name)


def expect_fd_released(r, name, timeout=5.0):
    """r is the read end of a pipe whose only write end went to hubd: EOF
    on r means hubd closed the descriptor it was handed."""
    ready, _, _ = select.select([r], [], [], scaled(timeout))
    expect(ready, '%s: hubd still holds the passed descriptor', name)
    expect_eq(os.read(r, 1), b'', '%s: passed descriptor' % name)


def test_ctl_protocol_baseline():
    """The framing the malformed cases bend, used correctly: STATS,
    PUBLISH (trusted, no HTTP field), HISTORY, and a CGI-mode SUBSCRIBE
    over a socketpair."""
    with Stack() as s:
        c = s.ctl_connect()
        try:
            stats = expect_stats_ok(c, 41)
            expect('subscribers' in stats, 'stats body %r', stats)
            p = H.ctl_field(H.T_TOPIC, T) + H.ctl_field(H.T_DATA, 'over ctl')
            mtype, req, _, fields = ctl_request(c, H.CTL_PUBLISH, p, request=42)
            expect_eq((mtype, req), (H.CTL_OK, 42), 'PUBLISH reply')
            uid = dict(fields).get(H.T_ID, b'').decode()
            expect(uid, 'PUBLISH reply without ID')
            # The same, in two fragments split inside a field.
            p = H.ctl_field(H.T_TOPIC, T) + H.ctl_field(H.T_DATA, 'in fragments')
            c.send(H.ctl_datagram(H.CTL_PUBLISH, p[:10], request=45, flags=H.CTL_F_MORE))
            c.send(H.ctl_datagram(H.CTL_PUBLISH, p[10:], request=45))
            mtype, req, _, fields = H.ctl_parse(H.ctl_recv(c, scaled(5)))
            expect_eq((mtype, req), (H.CTL_OK, 45), 'fragmented PUBLISH reply %r' % fields)
            uid2 = dict(fields).get(H.T_ID, b'').decode()
            mtype, req, _, fields = ctl_request(c, H.CTL_HISTORY, H.ctl_field(H.T_TOPIC, T),
                                                request=43)
            expect_eq((mtype, req), (H.CTL_OK, 43), 'HISTORY reply')
            items = json.loads(dict(fields)[H.T_BODY])
            expect_eq([(it['id'], it['data']) for it in items],
                      [(uid, 'over ctl'), (uid2, 'in fragments')], 'HISTORY body')

            a, b = socket.socketpair()
            try:
                p = (H.ctl_field(H.T_TOPIC, T) + H.ctl_field(H.T_MODE, H.CTL_MODE_CGI))
                mtype, req, _, fields = ctl_request(c, H.CTL_SUBSCRIBE, p, request=44,
                                                    fd=b.fileno())
                expect_eq((mtype, req), (H.CTL_OK, 44), 'SUBSCRIBE reply: %r' % (fields,))
                b.close()
                a.settimeout(scaled(5))
                got = b''
                uid = s.publish_ok(T, 'to the cgi stream')
                want = ('id: %s\ndata: to the cgi stream\n\n' % uid).encode()
                while want not in got:
                    chunk = a.recv(65536)
                    expect(chunk, 'CGI stream ended early: %r' % got)
                    got += chunk
                expect(b'text/event-stream' in got.split(b':ok')[0],
                       'CGI header block: %r', got[:200])
            finally:
                a.close()
                b.close()
        finally:
            c.close()
        s.check_pubsub()



def test_ctl_token_with_nul_401():
    """A token holding a NUL byte (hub.fcgi sends ?authorization=...%00...
    whole; found by fuzz_http_form) is refused, never cut short at the
    NUL into a valid token or an empty one (anonymous)."""
    with Stack() as s:
        c = s.ctl_connect()
        try:
            good = s.token(publish=['*'])
            for i, tok in enumerate((b'\0x', good.encode() + b'\0x')):
                p = (H.ctl_field(H.T_TOPIC, T) + H.ctl_field(H.T_HTTP, 1) +
                     H.ctl_field(H.T_AUTH, tok) + H.ctl_field(H.T_AUTH_SOURCE, 2))
                mtype, req, _, fields = ctl_request(c, H.CTL_HISTORY, p, request=50 + i)
                st = dict(fields).get(H.T_STATUS, b'\0\0\0\0')
                expect_eq((mtype, struct.unpack('=I', st)[0]), (H.CTL_ERROR, 401),
                          'HISTORY with token %r: %r' % (tok[:8], fields))
        finally:
            c.close()


def test_ctl_malformed_messages():
    with Stack() as s:
        bystander = s.ctl_connect()   # must be unaffected by every bad peer
        expect_stats_ok(bystander, 1)
        hdr = H.CTL_HEADER
        topic = H.ctl_field(H.T_TOPIC, T)
        cases = [
            ('short header', b'\x01\x00\x04\x00\x00'),
            ('one byte', b'\x01'),
            ('wrong version', H.ctl_datagram(H.CTL_STATS, version=H.CTL_VERSION + 1)),
            ('version 0', H.ctl_datagram(H.CTL_STATS, version=0)),
            ('length past the datagram', H.ctl_datagram(H.CTL_STATS, b'abcd', length=100)),
            ('length short of the datagram', H.ctl_datagram(H.CTL_PUBLISH, topic + b'junk',
                                                            length=len(topic))),
            ('field longer than the payload', H.ctl_datagram(
                H.CTL_PUBLISH, H.CTL_FIELD.pack(H.T_TOPIC, 0, 1000) + b'abc')),
            ('field length 2^32-1', H.ctl_datagram(
                H.CTL_PUBLISH, H.CTL_FIELD.pack(H.T_TOPIC, 0, 0xffffffff) + b'abc')),
            ('half a field header', H.ctl_datagram(H.CTL_PUBLISH, topic + b'\x01\x00\x00')),
            ('unknown tag', H.ctl_datagram(H.CTL_PUBLISH, topic + H.ctl_field(99, 'x'))),
            ('tag 0', H.ctl_datagram(H.CTL_PUBLISH, topic + H.ctl_field(0, 'x'))),
            ('tag the type does not take', H.ctl_datagram(
                H.CTL_PUBLISH, topic + H.ctl_field(H.T_FCGI_REQUEST_ID, 1))),
            ('u32 field of 3 bytes', H.ctl_datagram(
                H.CTL_PUBLISH, topic + H.ctl_field(H.T_RETRY, b'\x01\x02\x03'))),
            ('publish without topic', H.ctl_datagram(H.CTL_PUBLISH, H.ctl_field(H.T_DATA, 'x'))),
            ('subscribe without fd', H.ctl_datagram(
                H.CTL_SUBSCRIBE, topic + H.ctl_field(H.T_MODE, 2))),
            ('unknown message type', H.ctl_datagram(77, topic)),
            ('preflight with a topic', H.ctl_datagram(H.CTL_PREFLIGHT, topic)),
            ('a reply-only HEADERS field in a request',
             H.ctl_datagram(H.CTL_PUBLISH, topic + H.ctl_field(H.T_HEADERS, 'X-A: b\r\n'))),
            ('AUTH_SOURCE of the wrong size',
             H.ctl_datagram(H.CTL_PUBLISH, topic + H.ctl_field(H.T_AUTH_SOURCE, 'x'))),
            ('a reply type from a client', H.ctl_datagram(H.CTL_OK, b'')),
            ('too many fields', H.ctl_datagram(H.CTL_PUBLISH, topic * 300)),
            ('datagram over CTL_DATAGRAM_MAX', H.ctl_datagram(
                H.CTL_PUBLISH, H.ctl_field(H.T_TOPIC, 'x' * 70000))),
            ('garbage', bytes([0xff, 0xfe]) + bytes((i * 37 + 11) % 256 for i in range(200))),
            ('fragment, then another type', [
                H.ctl_datagram(H.CTL_PUBLISH, topic, flags=H.CTL_F_MORE, request=5),
                H.ctl_datagram(H.CTL_STATS, b'', request=5)]),
            ('fragment, then another request id', [
                H.ctl_datagram(H.CTL_PUBLISH, topic, flags=H.CTL_F_MORE, request=5),
                H.ctl_datagram(H.CTL_PUBLISH, H.ctl_field(H.T_DATA, 'x'), request=6)]),
            ('fragment cutting a field in two', [
                H.ctl_datagram(H.CTL_PUBLISH, topic[:5], flags=H.CTL_F_MORE, request=5),
                H.ctl_datagram(H.CTL_PUBLISH, topic[5:] + b'\x00', request=5)]),
        ]
        for i, (name, dgs) in enumerate(cases):
            c = s.ctl_connect()
            try:
                for dg in (dgs if isinstance(dgs, list) else [dgs]):
                    c.send(dg)
                expect_peer_closed(c, name)
            finally:
                c.close()
            expect_stats_ok(bystander, 100 + i)
        s.check_pubsub()

        # Descriptors sent where none belongs, or with a broken message:
        # hubd must close the peer and the descriptor it was given.
        fd_cases = [
            ('fd with STATS', H.ctl_datagram(H.CTL_STATS)),
            ('fd with PUBLISH', H.ctl_datagram(H.CTL_PUBLISH, topic + H.ctl_field(H.T_DATA, 'x'))),
            ('fd with HISTORY', H.ctl_datagram(H.CTL_HISTORY, topic)),
            ('fd with SUBSCRIBE but no topic', H.ctl_datagram(
                H.CTL_SUBSCRIBE, H.ctl_field(H.T_MODE, 2))),
            ('fd with SUBSCRIBE and a bad mode', H.ctl_datagram(
                H.CTL_SUBSCRIBE, topic + H.ctl_field(H.T_MODE, 9))),
            ('fd with SUBSCRIBE and unknown stream options', H.ctl_datagram(
                H.CTL_SUBSCRIBE, topic + H.ctl_field(H.T_MODE, 2) +
                H.ctl_field(H.T_STREAM_OPTS, 4))),
            ('fd with a wrong version', H.ctl_datagram(H.CTL_SUBSCRIBE, topic, version=H.CTL_VERSION + 1)),
            ('fd with garbage', b'\xff' * 40),
            ('fd on a middle fragment', None),
        ]
        for i, (name, dg) in enumerate(fd_cases):
            c = s.ctl_connect()
            r, w = os.pipe()
            try:
                if dg is None:
                    c.send(H.ctl_datagram(H.CTL_SUBSCRIBE, topic, flags=H.CTL_F_MORE, request=9))
                    H.ctl_send_fd(c, H.ctl_datagram(H.CTL_SUBSCRIBE, H.ctl_field(H.T_MODE, 2),
                                                    request=9), w)
                else:
                    H.ctl_send_fd(c, dg, w)
                os.close(w)
                w = -1
                expect_peer_closed(c, name)
                expect_fd_released(r, name)
            finally:
                c.close()
                os.close(r)
                if w >= 0:
                    os.close(w)
            expect_stats_ok(bystander, 200 + i)

        # Two descriptors in one message.
        c = s.ctl_connect()
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        try:
            c.sendmsg([H.ctl_datagram(H.CTL_SUBSCRIBE, topic + H.ctl_field(H.T_MODE, 2))],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('ii', w1, w2))])
            os.close(w1)
            os.close(w2)
            expect_peer_closed(c, 'two descriptors')
            expect_fd_released(r1, 'two descriptors (first)')
            expect_fd_released(r2, 'two descriptors (second)')
        finally:
            c.close()
            os.close(r1)
            os.close(r2)

        # A peer that leaves mid-message.
        c = s.ctl_connect()
        c.send(H.ctl_datagram(H.CTL_PUBLISH, topic, flags=H.CTL_F_MORE))
        c.close()
        expect_stats_ok(bystander, 300)
        bystander.close()
        s.check_pubsub()
        # Nothing the bad peers sent was published.
        st, _, items = s.history(T)
        expect_eq((st, items), (200, []), 'no update from a malformed message')



def test_bad_handler_environment_ignored_and_logged():
    """hub.fcgi's own settings come from the web server's config: a value
    that is not a number in range is ignored with a line in the server's
    error log, and the hub serves with the defaults."""
    env = {'HUBD_THREADS': 'lots', 'HUBD_MAX_BODY': '-5', 'HUBD_X_ACCEL_BUFFERING': 'maybe'}
    with Stack(fcgi_env=env) as s:
        uid = s.publish_ok(T, 'with defaults')
        st, _, body = s.history(T)
        expect_eq((st, [u['id'] for u in body]), (200, [uid]), 'history')
        # hub.fcgi's stderr: lighttpd's own (lighttpd.out), or its error log.
        log = H.wait_for(lambda: (lambda t: 'HUBD_MAX_BODY=-5' in t and t)(
            s.log_tail('lighttpd.out', 100) + s.log_tail('lighttpd.error.log', 100)),
            scaled(5), 'the log lines')
        expect('ignoring HUBD_THREADS=lots: not a number from 1 to' in log, 'THREADS: %r', log)
        expect('ignoring HUBD_MAX_BODY=-5: not a number from 1 to' in log, 'MAX_BODY: %r', log)
        expect('ignoring HUBD_X_ACCEL_BUFFERING=maybe: not send or omit' in log,
               'X_ACCEL_BUFFERING: %r', log)
        # The default, send, applies.
        sub = s.subscribe(T)
        expect_eq(sub.header('x-accel-buffering'), 'no', 'X-Accel-Buffering by default')
        sub.close()


if __name__ == '__main__':
    H.run_tests(globals())
