#!/usr/bin/env python3
"""test_scale.py -- 1,000 concurrent subscribers, read with one selector
loop over non-blocking sockets, each receive a burst of 100 updates
complete and in order."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import streams  # noqa: E402
from harness import Stack, expect  # noqa: E402

T = 'https://example.com/scale'


def test_thousand_subscribers_burst():
    N, BURST = 1000, 100
    soft = H.resource.getrlimit(H.resource.RLIMIT_NOFILE)[0]
    expect(soft >= N + 100, 'RLIMIT_NOFILE %d is too low for %d subscribers (ulimit -Hn)',
           soft, N)
    with Stack(heartbeat=20) as s:
        expect(s.max_fds >= 2 * N + 100, 'lighttpd max-fds %d is too low for %d streams',
               s.max_fds, N)
        t_open, t_burst = streams.open_and_burst(s, T, N, BURST)
        stats = s.stats()
        expect(stats['deliveries'] >= N * BURST, 'deliveries %r', stats)
        print('# %d subscribers open in %.1fs; %d x %d delivered in %.2fs' %
              (N, t_open, BURST, N, t_burst))


if __name__ == '__main__':
    H.run_tests(globals())
