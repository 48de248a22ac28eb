#!/usr/bin/env python3
"""test_retry.py -- telling clients when to come back: every stream hubd
opens carries a "retry:" drawn from --retry, so that the clients of streams
that end together (a restart) reconnect spread out."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

T = 'https://example.com/retry'


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
    H.run_tests(globals())
