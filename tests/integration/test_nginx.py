#!/usr/bin/env python3
"""test_nginx.py -- the hub behind nginx (ngx_http_fastcgi_module with
fastcgi_buffering off) instead of lighttpd, with contrib/nginx/quickstart.conf
including the operator's contrib/nginx/hubd.conf as its configuration: hub.fcgi runs as its own FastCGI server on a Unix
socket (nginx never spawns it) and hands each stream's FastCGI connection to
hubd, which then writes the FastCGI records itself. The checks are
front_checks.py's, with 200 concurrent streams for the burst, plus what is
nginx's own: topics with %2F reach the subscriptions API undecoded, an idle
stream outlives several heartbeats (fastcgi_read_timeout above them), a
reload (SIGHUP) ends the old worker's streams within
worker_shutdown_timeout while new ones go to the new worker; and, from
test_lifecycle.py, hubd's SIGTERM ends streams properly through nginx and
a reader that never reads is cut by hubd (nginx buffers nothing).

Without nginx the test is skipped (exit 77), except when CI is set: then it
fails."""

import json
import os
import re
import signal
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402
import harness as H  # noqa: E402
import test_lifecycle  # noqa: E402
from harness import HUB_PATH, Stack, expect, expect_eq, scaled  # noqa: E402

T = front_checks.T


def test_encoded_topic_reaches_subscriptions_api():
    """nginx matches locations on the decoded, slash-merged path, but
    hub.fcgi gets $request_uri as sent: the subscription of a topic with
    slashes is found by its percent-encoded IRI."""
    subs = HUB_PATH + '/subscriptions'
    with Stack(front='nginx', extra_hubd_args=['--subscriptions', 'yes']) as s:
        admin = {'Authorization': 'Bearer ' + s.token(publish=None, subscribe=['*'])}
        sub = s.subscribe(T)
        st, _, body = s.request('GET', '%s/%s' % (subs, urllib.parse.quote(T, safe='')),
                                headers=admin)
        expect_eq(st, 200, 'subscriptions of %s: %r' % (T, body))
        doc = json.loads(body)
        expect_eq([x['topic'] for x in doc['subscriptions']], [T], 'the subscription found')
        sid = doc['subscriptions'][0]['subscriber']
        st, _, body = s.request('GET', '%s/%s/%s' % (subs, urllib.parse.quote(T, safe=''),
                                                      urllib.parse.quote(sid, safe='')),
                                headers=admin)
        expect_eq((st, json.loads(body)['subscriber']), (200, sid), 'one subscription')
        sub.close()


def nginx_seconds(conf, directive):
    """The value of a time directive in an nginx config, in seconds (the
    last one given), or None."""
    found = re.findall(r'^\s*%s\s+(\d+)(ms|s|m|h)?\s*;' % re.escape(directive), conf, re.M)
    if not found:
        return None
    n, unit = found[-1]
    return int(n) * {'ms': 0.001, 's': 1, '': 1, 'm': 60, 'h': 3600}[unit]


def test_idle_stream_outlives_heartbeats():
    """An idle stream is kept open by hubd's heartbeats: nginx's
    fastcgi_read_timeout (the longest wait for the next bytes from hubd)
    must exceed the heartbeat -- in the template, hubd's default of 20 s
    -- and a stream with only heartbeats for several of them stays open."""
    HB = 2
    with Stack(front='nginx', heartbeat=HB) as s:
        with open(os.path.join(s.tmpdir, 'hub.conf')) as f:   # the snippet, as run
            conf = f.read()
        rt = nginx_seconds(conf, 'fastcgi_read_timeout')
        print('# fastcgi_read_timeout %s s' % rt)
        expect(rt is not None and rt > 2 * 20,
               'fastcgi_read_timeout %s s is not well above the default heartbeat (20 s)', rt)
        sub = s.subscribe(T)
        sub.wait_comment(scaled(3 * HB + 2), count=4)   # ":ok" and three heartbeats
        expect(not sub.closed(), 'the idle stream ended')
        uid = s.publish_ok(T, 'after the heartbeats')
        expect_eq(sub.next_event(scaled(5))['id'], uid, 'the update after the heartbeats')
        sub.close()


def test_reload_ends_old_streams():
    """On SIGHUP nginx starts a new worker and lets the old one finish its
    requests -- event streams never finish: worker_shutdown_timeout (10 s in
    the template) cuts them, the client resumes on the new worker with
    Last-Event-ID and misses nothing, and the old worker exits."""
    with Stack(front='nginx', heartbeat=2) as s:
        old = s.nginx_worker_pids()
        expect_eq(len(old), 1, 'one worker')
        sub = s.subscribe(T)
        first = s.publish_ok(T, 'before the reload')
        expect_eq(sub.next_event(scaled(5))['id'], first, 'update before the reload')
        t0 = time.monotonic()
        os.kill(s.nginx_pid, signal.SIGHUP)
        new = H.wait_for(lambda: [p for p in s.nginx_worker_pids() if p not in old],
                         scaled(10), 'a new nginx worker')
        # Published while the old worker still carries the stream.
        during = s.publish_ok(T, 'during the reload')
        expect_eq(sub.next_event(scaled(5))['id'], during, 'the old worker still streams')
        sub.wait_closed(scaled(20))
        took = time.monotonic() - t0
        print('# the old worker ended its stream %.1fs after SIGHUP' % took)
        expect(took < scaled(15), 'stream cut %.1fs after the reload', took)
        H.wait_for(lambda: not any(H.pid_alive(p) for p in old), scaled(5),
                   'the old worker to exit')
        missed = s.publish_ok(T, 'after the cut')
        sub.close()
        sub = s.subscribe(T, last_event_id=during)
        expect_eq(sub.next_event(scaled(5))['id'], missed, 'resumed on the new worker')
        expect_eq(s.nginx_worker_pids(), new, 'only the new worker is left')
        sub.close()


if __name__ == '__main__':
    front_checks.main(('nginx',), 200, __file__, extra={
        'test_idle_stream_outlives_heartbeats': test_idle_stream_outlives_heartbeats,
        'test_encoded_topic_reaches_subscriptions_api':
            test_encoded_topic_reaches_subscriptions_api,
        'test_reload_ends_old_streams': test_reload_ends_old_streams,
        # nginx ends the response properly when hubd ends the stream, and
        # passes backpressure on to hubd instead of buffering.
        'test_sigterm_ends_streams_cleanly':
            lambda: test_lifecycle.test_sigterm_ends_streams_cleanly(front='nginx'),
        'test_slow_reader_disconnected':
            lambda: test_lifecycle.test_slow_reader_disconnected(front='nginx'),
    })
