"""streams.py -- many SSE subscribers at once, read with one selector loop
over non-blocking sockets (Conn, pump), and the shared check that opens N
of them and publishes a burst that every one must receive complete and in
order (open_and_burst). Used by test_scale.py and front_checks.py."""

import os
import selectors
import socket
import time

import harness as H
from harness import expect, expect_eq, scaled


class Conn:
    """One non-blocking subscriber: connect, send the request, parse."""

    def __init__(self, host, port, target, i, source=None):
        self.i = i
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:  # connect from this local address (e.g. 127.0.0.2)
            self.sock.bind((source, 0))
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


def open_and_burst(s, topic, n, burst, batch=200, prefix='burst'):
    """Opens n subscribers to topic on stack s (batch at a time, so the
    front's listen queues are not what is tested), waits until hubd counts
    them, publishes burst updates back to back from a thread while reading
    every stream, and checks that each stream got exactly the acknowledged
    ids, in order. Returns (seconds to open, seconds for the burst)."""
    sel = selectors.DefaultSelector()
    conns = []
    target = s.subscribe_target(topic)
    t0 = time.monotonic()
    try:
        for start in range(0, n, batch):
            group = []
            for i in range(start, min(n, start + batch)):
                c = Conn(s.host, s.port, target, i)
                sel.register(c.sock, selectors.EVENT_WRITE, c)
                group.append(c)
            conns += group
            pump(sel, lambda: all(c.open or c.error for c in group), scaled(60),
                 'subscribers %d..%d to open' % (start, start + len(group) - 1))
            bad = [(c.i, c.error, c.parser.status) for c in group if c.error]
            expect(not bad, '%d subscribers failed to open, e.g. %r', len(bad), bad[:3])
        t_open = time.monotonic() - t0
        H.wait_for(lambda: s.stats()['subscribers'] == n, scaled(20),
                   'hubd to count %d subscribers' % n)

        pub = H.Publisher(s, [topic], burst, prefix=prefix)
        t1 = time.monotonic()
        pub.start()
        try:
            pump(sel, lambda: (not pub.is_alive() and len(pub.acked) < burst)
                 or all(len(c.ids) >= burst or c.error for c in conns),
                 scaled(120), 'every subscriber to receive %d updates' % burst)
        finally:
            pub.stop_flag.set()
            pub.join(scaled(30))
        expect(not pub.errors, 'publish errors: %r', pub.errors[:3])
        t_burst = time.monotonic() - t1
        want = [uid for uid, _ in pub.acked]
        expect_eq(len(want), burst, 'acknowledged publishes')
        bad = [c for c in conns if c.error or c.ids != want]
        if bad:
            c = bad[0]
            raise AssertionError(
                '%d of %d subscribers incomplete or out of order; e.g. #%d: error %r, '
                '%d events, in order: %s' % (len(bad), n, c.i, c.error, len(c.ids),
                                             c.ids == want[:len(c.ids)]))
        return t_open, t_burst
    finally:
        for c in conns:
            c.close()
        sel.close()
