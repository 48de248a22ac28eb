#!/usr/bin/env python3
"""test_scale.py -- 1,000 concurrent subscribers, read with one selector
loop over non-blocking sockets, each receive a burst of 100 updates
complete and in order."""

import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

T = 'https://example.com/scale'


class Conn:
    """One non-blocking subscriber: connect, send the request, parse."""

    def __init__(self, host, port, target, i):
        self.i = i
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex((host, port))
        self.request = ('GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n'
                        % (target, host, port)).encode()
        self.parser = H.ResponseParser(sse=True, keep_body=False)
        self.sent = False
        self.ids = []
        self.error = None

    def on_event(self, sel, mask):
        if not self.sent:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.fail(sel, 'connect: %s' % os.strerror(err))
                return
            self.sock.send(self.request)   # small: fits the empty send buffer
            self.sent = True
            sel.modify(self.sock, selectors.EVENT_READ, self)
            return
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.fail(sel, 'recv: %r' % e)
            return
        self.parser.feed(data)
        evs = self.parser.sse.events
        while evs:
            self.ids.append(evs.popleft()['id'])
        if self.parser.ended:
            self.fail(sel, 'stream ended (status %s, clean %s)'
                      % (self.parser.status, self.parser.clean_end))

    def fail(self, sel, why):
        if self.error is None:
            self.error = why
        try:
            sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass

    @property
    def open(self):
        return (self.parser.head_done and self.parser.status == 200
                and len(self.parser.sse.comments) >= 1)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def pump(sel, cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        left = deadline - time.monotonic()
        if left <= 0:
            raise H.Timeout('timed out after %.0fs waiting for %s' % (timeout, what))
        for key, mask in sel.select(min(left, 0.5)):
            key.data.on_event(sel, mask)


def test_thousand_subscribers_burst():
    N, BURST, BATCH = 1000, 100, 200
    soft = H.resource.getrlimit(H.resource.RLIMIT_NOFILE)[0]
    expect(soft >= N + 100, 'RLIMIT_NOFILE %d is too low for %d subscribers (ulimit -Hn)',
           soft, N)
    with Stack(heartbeat=20) as s:
        expect(s.max_fds >= 2 * N + 100, 'lighttpd max-fds %d is too low for %d streams',
               s.max_fds, N)
        sel = selectors.DefaultSelector()
        conns = []
        target = s.subscribe_target(T)
        t0 = time.monotonic()
        try:
            # Open in batches so lighttpd's and hub.fcgi's listen queues are
            # not the thing under test; every stream stays open.
            for start in range(0, N, BATCH):
                batch = []
                for i in range(start, min(N, start + BATCH)):
                    c = Conn(s.host, s.port, target, i)
                    sel.register(c.sock, selectors.EVENT_WRITE, c)
                    batch.append(c)
                conns += batch
                pump(sel, lambda: all(c.open or c.error for c in batch), scaled(60),
                     'subscribers %d..%d to open' % (start, start + len(batch) - 1))
                bad = [(c.i, c.error, c.parser.status) for c in batch if c.error]
                expect(not bad, '%d subscribers failed to open, e.g. %r', len(bad), bad[:3])
            t_open = time.monotonic() - t0
            H.wait_for(lambda: s.stats()['subscribers'] == N, scaled(20),
                       'hubd to count %d subscribers' % N)

            # The burst: published back to back from a thread while this
            # loop reads every stream.
            pub = H.Publisher(s, [T], BURST, prefix='burst')
            t1 = time.monotonic()
            pub.start()
            try:
                pump(sel, lambda: (not pub.is_alive() and len(pub.acked) < BURST)
                     or all(len(c.ids) >= BURST or c.error for c in conns),
                     scaled(120), 'every subscriber to receive %d updates' % BURST)
            finally:
                pub.stop_flag.set()
                pub.join(scaled(30))
            expect(not pub.errors, 'publish errors: %r', pub.errors[:3])
            t_burst = time.monotonic() - t1
            want = [uid for uid, _ in pub.acked]
            expect_eq(len(want), BURST, 'acknowledged publishes')
            bad = [c for c in conns if c.error or c.ids != want]
            if bad:
                c = bad[0]
                raise AssertionError(
                    '%d of %d subscribers incomplete or out of order; e.g. #%d: error %r, '
                    '%d events, in order: %s' % (len(bad), N, c.i, c.error, len(c.ids),
                                                 c.ids == want[:len(c.ids)]))
            stats = s.stats()
            expect(stats['deliveries'] >= N * BURST, 'deliveries %r', stats)
            print('# %d subscribers open in %.1fs; %d x %d delivered in %.2fs' %
                  (N, t_open, BURST, N, t_burst))
        finally:
            for c in conns:
                c.close()
            sel.close()


if __name__ == '__main__':
    H.run_tests(globals())
