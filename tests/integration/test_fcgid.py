#!/usr/bin/env python3
"""test_fcgid.py -- Apache mod_fcgid is not a supported front: it counts a
FastCGI process busy for as long as its response lasts, so every open
stream would hold one hub.fcgi process until FcgidMaxProcesses makes the
next request wait. hub.fcgi sees that Apache spawned it and answers every
request at once with a 500 that says what to do instead, and logs it.

Apache runs here as Debian ships it (ServerTokens OS: SERVER_SOFTWARE does
not name mod_fcgid). Without apache2 or mod_fcgid the test is skipped
(exit 77), except when CI is set: then it fails."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

T = 'https://example.com/fcgid/1'
FRONT = 'apache-fcgid'


def expect_refused(status, body, what):
    expect_eq(status, 500, what + ' status')
    expect('mod_fcgid' in body and 'mod_proxy_fcgi' in body,
           '%s: the answer says why and what to use instead: %r', what, body)


def test_every_request_refused_at_once():
    with Stack(front=FRONT, heartbeat=2) as s:
        # Subscribe, publish, history, preflight: all refused, none hangs.
        t0 = time.monotonic()
        st, _, body = s.request('GET', s.subscribe_target(T), timeout=scaled(10))
        expect_refused(st, body, 'subscribe')
        st, _, body = s.publish(T, 'must not be stored', timeout=scaled(10))
        expect_refused(st, body, 'publish')
        st, _, body = s.request('GET', '/.well-known/mercure/history?topic=x',
                                timeout=scaled(10))
        expect_refused(st, body, 'history')
        elapsed = time.monotonic() - t0
        print('# three refusals in %.0f ms' % (elapsed * 1000))
        expect(elapsed < scaled(5), 'answered promptly (%.1fs)', elapsed)
        # Nothing reached hubd: no stream, no update stored.
        stats = s.stats()
        expect_eq((stats['subscribers'], stats['streams_opened'], stats['updates_published'],
                   stats['updates_stored']), (0, 0, 0, 0),
                  'streams held/opened, updates published/stored by hubd')
        # The reason is in Apache's error log (hub.fcgi's stderr).
        log = H.wait_for(lambda: 'mod_fcgid' in s.log_tail('apache.error.log', 200),
                         scaled(5), 'the refusal in the error log')
        expect(log, 'logged')


def test_many_concurrent_streams_do_not_pile_up():
    """More stream requests at once than mod_fcgid would keep processes
    for: each gets its 500, none waits for a free process."""
    n = 40
    results = [None] * n
    with Stack(front=FRONT) as s:
        def one(i):
            try:
                st, _, body = s.request('GET', s.subscribe_target(T), timeout=scaled(20))
                results[i] = (st, 'mod_fcgid' in body)
            except Exception as e:  # a hang or a reset is a failure
                results[i] = repr(e)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(30))
        elapsed = time.monotonic() - t0
        print('# %d concurrent stream requests refused in %.2fs' % (n, elapsed))
        expect_eq(results, [(500, True)] * n, 'every stream request refused')
        expect_eq(s.stats()['streams_opened'], 0, 'streams opened by hubd')


if __name__ == '__main__':
    front_checks.run_where_possible(
        {FRONT: {n: fn for n, fn in globals().items() if n.startswith('test_')}}, __file__)
