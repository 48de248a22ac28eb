#!/usr/bin/env python3
"""test_retry.py -- refusals that a later retry cures, at the HTTP level.

A browser's EventSource gives up for good on any answer but a 200
text/event-stream, so hub.fcgi (and hub.cgi) answer a stream request that
hubd cannot take now (hubd down or at capacity) with the retry answer: 200,
text/event-stream, a body of only "retry: N" (N drawn from HUBD_RETRY, or
HUBD_RETRY_BUSY at capacity), a comment and a "hubd-retry" event, the real
status in X-Hubd-Status and Retry-After. A request that does not accept
text/event-stream (curl, a monitoring probe) and every publish keep the real
status. The same for hubd's 429 over --max-streams-per-client. Every stream hubd opens carries a "retry:" drawn from --retry.

Behind lighttpd (FastCGI and CGI), Apache (mod_proxy_fcgi) and nginx; the browser
and the eventsource npm client following these answers are in
test_browser.py and test_eventsource_npm.py."""

import math
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

T = 'https://example.com/retry'
ES = {'Accept': 'text/event-stream'}


def parse(body):
    """The SSE body as a harness parser (events, comments, retry)."""
    p = H.SSEParser()
    p.feed(body.encode('utf-8'))
    return p


def check_retry_answer(s, lo, hi, status, headers=ES, n=8):
    """n stream requests get the retry answer for status with a delay in
    [lo, hi] ms, not the same each time. Returns the delays."""
    delays = []
    for _ in range(n):
        st, h, body = s.request('GET', s.subscribe_target(T), headers=headers)
        expect_eq(st, 200, 'the retry answer\'s status (%r)' % body)
        expect_eq(h.get('Content-Type', '').split(';')[0].strip(), 'text/event-stream',
                  'the retry answer\'s Content-Type')
        expect_eq(h.get('X-Hubd-Status'), str(status), 'X-Hubd-Status')
        p = parse(body)
        ms = p.reconnection_time
        expect(ms is not None and lo <= ms <= hi, 'retry %r not within %d-%d: %r', ms, lo, hi,
               body)
        expect_eq(h.get('Retry-After'), str(math.ceil(ms / 1000)), 'Retry-After (seconds)')
        evs = list(p.events)
        expect_eq([(e['event'], e['id'], e['last_event_id']) for e in evs],
                  [('hubd-retry', None, '')], 'one hubd-retry event, no id')
        expect_eq(evs[0]['data'], '{"status":%d,"retry":%d}' % (status, ms), 'its data')
        expect(p.comments, 'a comment with the reason: %r', body)
        delays.append(ms)
    expect(len(set(delays)) > 1, 'the delay is drawn at random: %r', delays)
    return delays


def check_plain_status(s, status, headers=None):
    st, h, body = s.request('GET', s.subscribe_target(T), headers=headers or {})
    expect_eq(st, status, 'a request that does not accept text/event-stream (%r)' % body)
    expect(h.get('X-Hubd-Status') is None, 'no X-Hubd-Status on the plain answer')
    ra = h.get('Retry-After')
    expect(ra is not None and ra.isdigit(), 'Retry-After on the plain answer: %r', ra)


def hubd_down(front):
    """hubd stopped: EventSource requests get the retry answer from
    HUBD_RETRY, other requests 503; a publish and history 503."""
    env = {'HUBD_RETRY': '1200-2800', 'HUBD_RETRY_BUSY': '20000-30000'}
    with Stack(front=front, fcgi_env=env) as s:
        s.kill_hubd(signal.SIGTERM)
        check_retry_answer(s, 1200, 2800, 503)
        # Browsers send a list; case and parameters do not matter.
        check_retry_answer(s, 1200, 2800, 503, n=2, headers={
            'Accept': 'application/json;q=0.5, Text/Event-Stream;charset=utf-8'})
        # A page of another origin must be able to read it (hubd, which
        # knows the allowed origins, is away).
        st, h, _ = s.request('GET', s.subscribe_target(T),
                             headers=dict(ES, Origin='https://other.example'))
        expect_eq((st, h.get('Access-Control-Allow-Origin'),
                   h.get('Access-Control-Allow-Credentials')),
                  (200, 'https://other.example', 'true'), 'CORS on the retry answer')
        check_plain_status(s, 503)
        check_plain_status(s, 503, {'Accept': '*/*'})
        check_plain_status(s, 503, {'Accept': 'text/event-stream;q=0'})
        st, h, body = s.publish(T, 'while down')
        expect_eq(st, 503, 'a publish while hubd is down')
        expect(h.get('X-Hubd-Status') is None, 'a publish gets the plain status')
        st, _, _ = s.request('GET', H.HUB_PATH + '/history?' + s.topic_query(T), headers=ES)
        expect_eq(st, 503, 'history while hubd is down, even with Accept: text/event-stream')
        # hubd back: the same request is a stream.
        s.start_hubd()
        sub = s.subscribe(T, headers=ES)
        expect_eq(sub.status, 200, 'subscribe once hubd is back')
        sub.close()


def test_hubd_down():
    hubd_down('lighttpd')


def test_cgi_hubd_down():
    hubd_down('lighttpd-cgi')


def test_apache_hubd_down():
    hubd_down('apache')


def test_nginx_hubd_down():
    hubd_down('nginx')


def test_at_capacity():
    """hubd at --max-subscribers: its 503 becomes the retry answer with
    HUBD_RETRY_BUSY's longer delays; a plain request still sees the 503,
    and a freed slot takes the next stream."""
    env = {'HUBD_RETRY': '1000-2000', 'HUBD_RETRY_BUSY': '7000-9500'}
    # heartbeat 1: hubd notices the stream that leaves at its next write.
    with Stack(fcgi_env=env, heartbeat=1, extra_hubd_args=['--max-subscribers', '2']) as s:
        subs = [s.subscribe(T) for _ in range(2)]
        check_retry_answer(s, 7000, 9500, 503)
        check_plain_status(s, 503)
        subs.pop().close()
        H.wait_for(lambda: s.stats()['subscribers'] < 2, scaled(10), 'a slot to be free')
        sub = s.subscribe(T, headers=ES)
        expect_eq(sub.status, 200, 'a stream in the freed slot')
        for x in subs + [sub]:
            x.close()


def test_over_the_client_cap():
    """A client over --max-streams-per-client: hubd's 429 becomes the retry
    answer (X-Hubd-Status: 429) with HUBD_RETRY_BUSY's delays; a plain
    request sees the 429 itself, with Retry-After."""
    env = {'HUBD_RETRY': '1000-2000', 'HUBD_RETRY_BUSY': '6000-9000'}
    with Stack(fcgi_env=env, extra_hubd_args=['--max-streams-per-client', '1']) as s:
        sub = s.subscribe(T)
        check_retry_answer(s, 6000, 9000, 429)
        check_plain_status(s, 429)
        sub.close()


def test_shutting_down_retries_soon():
    """While hubd shuts down (held here for its drain deadline by a stream
    that stopped reading), its refusal says a retry soon cures it (RETRY
    in the control reply): HUBD_RETRY's short delays, not the busy ones."""
    env = {'HUBD_RETRY': '1000-2000', 'HUBD_RETRY_BUSY': '7000-9500'}
    with Stack(fcgi_env=env, extra_hubd_args=['--max-queue', str(16 << 20)]) as s:
        stuck = H.socket.create_connection((s.host, s.port))
        stuck.setsockopt(H.socket.SOL_SOCKET, H.socket.SO_RCVBUF, 4096)
        stuck.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n'
                       % s.subscribe_target(T)).encode())
        H.wait_for(lambda: s.stats()['subscribers'] == 1, scaled(5), 'the stuck stream')
        for i in range(80):  # more than the sockets and lighttpd take
            s.publish_ok(T, 'x' * 60000)
        stopper = threading.Thread(target=s.kill_hubd, args=(signal.SIGTERM, scaled(30)))
        stopper.start()
        try:
            H.wait_for(lambda: s.request('GET', s.subscribe_target(T), headers=ES)[1]
                       .get('X-Hubd-Status') == '503', scaled(5), 'hubd refusing, stopping')
            delays = check_retry_answer(s, 1000, 2000, 503, n=4)
            st, _, body = s.request('GET', s.subscribe_target(T), headers=ES)
            expect(st == 200 and 'shutting down' in body,
                   'the refusal is hubd\'s, not hub.fcgi failing to reach it: %r', body)
            print('# while hubd stops: retry in %s ms' % delays)
        finally:
            stopper.join()
            stuck.close()


def test_stream_opens_with_jittered_retry():
    """Every stream opens with ":ok" and then "retry: N", N from --retry,
    drawn for each stream; --retry 0 sends none."""
    with Stack(extra_hubd_args=['--retry', '300-900']) as s:
        seen = []
        for _ in range(8):
            sub = s.subscribe(T)
            H.wait_for(lambda: sub.body.count(b'\n\n') >= 2, scaled(5), 'the retry line')
            expect(sub.body.startswith(b':ok\n\nretry: '), 'the stream opening: %r', sub.body)
            ms = int(sub.body.split(b'retry: ')[1].split(b'\n')[0])
            expect(300 <= ms <= 900, 'retry %d not within 300-900', ms)
            seen.append(ms)
            sub.close()
        expect(len(set(seen)) > 1, 'a delay drawn per stream: %r', seen)
    with Stack(extra_hubd_args=['--retry', '0']) as s:
        sub = s.subscribe(T)
        uid = s.publish_ok(T, 'x')
        expect_eq(sub.next_event(scaled(5))['id'], uid, 'the update')
        expect(b'retry:' not in sub.body, '--retry 0: no retry line: %r', sub.body)
        sub.close()


if __name__ == '__main__':
    tests = {n: f for n, f in globals().items() if n.startswith('test_')}
    by_front = {
        'lighttpd': {n: f for n, f in tests.items()
                     if not n.startswith(('test_cgi_', 'test_apache_', 'test_nginx_'))},
        'lighttpd-cgi': {'test_cgi_hubd_down': test_cgi_hubd_down},
        'apache': {'test_apache_hubd_down': test_apache_hubd_down},
        'nginx': {'test_nginx_hubd_down': test_nginx_hubd_down},
    }
    front_checks.run_where_possible(by_front, __file__)
