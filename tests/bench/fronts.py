#!/usr/bin/env python3
"""fronts.py -- what each web-server front costs: `make bench-fronts`.

For every front the harness can run (lighttpd + mod_fastcgi, Apache +
mod_proxy_fcgi, nginx + FastCGI, lighttpd mod_cgi, Apache mod_cgid;
FRONTS_BENCH_FRONTS picks), with real hubd on SQLite, it measures:

- added latency per event: one subscriber through the front and one
  "direct" subscriber whose socket hubd writes itself (handed over the
  control socket in CGI mode: no front at all) receive the same updates;
  per update, front arrival minus direct arrival. Updates are published one
  at a time over the control socket (FRONTS_BENCH_UPDATES, 300), each after
  the previous one arrived on both, so no queueing is measured.
- memory per open stream in the front itself: RSS of the front's processes
  (hub.fcgi and hub.cgi left out) before and after opening
  FRONTS_BENCH_STREAMS (1,000) idle streams, divided by the streams.
- streams one front held before a limit: streams opened in batches of
  FRONTS_BENCH_STEP (1,000), each batch checked (every stream got its
  200 and hubd's opening comment), until a batch fails or
  FRONTS_BENCH_CAPACITY_MAX (10,000) is reached; says what stopped it.
  lighttpd and nginx get max-fds (worker_rlimit_nofile) = the hard
  open-files limit; Apache gets MaxRequestWorkers = the maximum + 64 (one
  worker thread per stream).

It measures and never asserts; rounds (FRONTS_BENCH_ROUNDS, 3) repeat the
latency and memory figures and the table shows their medians. Every process
is started through tests/integration/harness.py and stopped by pid."""

import os
import selectors
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
import front_checks  # noqa: E402
import harness as H  # noqa: E402
from harness import Stack  # noqa: E402

T = 'https://example.com/bench/fronts'
ALL_FRONTS = ('lighttpd', 'apache', 'nginx', 'lighttpd-cgi', 'apache-cgi')


def env_int(name, default):
    return int(os.environ.get(name, default))


UPDATES = env_int('FRONTS_BENCH_UPDATES', 300)
STREAMS = env_int('FRONTS_BENCH_STREAMS', 1000)
STEP = env_int('FRONTS_BENCH_STEP', 1000)
CAP_MAX = env_int('FRONTS_BENCH_CAPACITY_MAX', 10000)
ROUNDS = env_int('FRONTS_BENCH_ROUNDS', 3)
SKIP_CAPACITY = os.environ.get('FRONTS_BENCH_CAPACITY', '1') == '0'


class Reader:
    """One stream read without blocking; records (id, arrival ns)."""

    def __init__(self, sock, http=True):
        self.sock = sock
        self.sock.setblocking(False)
        self.http = http
        self.parser = H.ResponseParser(sse=True, keep_body=False) if http else None
        self.sse = self.parser.sse if http else H.SSEParser()
        self.head = bytearray()  # CGI mode: the header block before the body
        self.in_body = http
        self.arrivals = {}
        self.ended = False

    def read(self):
        try:
            data = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b''
        now = time.monotonic_ns()
        if not data:
            self.ended = True
        if self.http:
            self.parser.feed(data)
            self.ended = self.ended or self.parser.ended
        elif self.in_body:
            self.sse.feed(data)
        else:
            self.head += data
            cut = self.head.find(b'\r\n\r\n')
            if cut >= 0:
                self.in_body = True
                self.sse.feed(bytes(self.head[cut + 4:]))
        while self.sse.events:
            ev = self.sse.events.popleft()
            if ev['id'] is not None:
                self.arrivals[ev['id']] = now


def front_stream(s, host=None):
    sock = socket.create_connection((host or s.host, s.port), timeout=10)
    sock.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n'
                  % (s.subscribe_target(T), s.host)).encode())
    return sock


def direct_stream(s):
    """A socket hubd writes the stream to itself (CGI mode: the SSE body
    after a CGI header block), handed over the control socket."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    c = s.ctl_connect()
    try:
        H.ctl_send_fd(c, H.ctl_datagram(H.CTL_SUBSCRIBE, H.ctl_field(H.T_TOPIC, T) +
                                        H.ctl_field(H.T_MODE, H.CTL_MODE_CGI)), theirs.fileno())
        theirs.close()
        mtype, _, _, _ = H.ctl_parse(H.ctl_recv(c, 10))
        if mtype != H.CTL_OK:
            raise RuntimeError('hubd refused the direct subscriber (type %#x)' % mtype)
    finally:
        c.close()
    return mine


def ctl_publish(c, i):
    c.send(H.ctl_datagram(H.CTL_PUBLISH, H.ctl_field(H.T_TOPIC, T) +
                          H.ctl_field(H.T_DATA, 'update %d' % i), request=i + 1))
    mtype, req, _, fields = H.ctl_parse(H.ctl_recv(c, 10))
    if mtype != H.CTL_OK:
        raise RuntimeError('publish refused: %r' % fields)
    return [v for t, v in fields if t == H.T_ID][0].decode()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def added_latency(s):
    """p50/p99/max of front arrival minus direct arrival, in ms."""
    sel = selectors.DefaultSelector()
    front, direct = Reader(front_stream(s)), Reader(direct_stream(s), http=False)
    for r in (front, direct):
        sel.register(r.sock, selectors.EVENT_READ, r)
    c = s.ctl_connect()
    deltas = []
    try:
        H.wait_for(lambda: s.stats()['subscribers'] == 2, 10, 'both subscribers')
        for i in range(UPDATES):
            uid = ctl_publish(c, i)
            deadline = time.monotonic() + 10
            while uid not in front.arrivals or uid not in direct.arrivals:
                if time.monotonic() > deadline or front.ended or direct.ended:
                    raise RuntimeError('update %d did not arrive on both streams' % i)
                for key, _ in sel.select(1):
                    key.data.read()
            deltas.append((front.arrivals[uid] - direct.arrivals[uid]) / 1e6)
            time.sleep(0.005)
    finally:
        c.close()
        for r in (front, direct):
            sel.unregister(r.sock)
            r.sock.close()
    return pct(deltas, 50), pct(deltas, 99), max(deltas)


def front_pids(s):
    """The front's processes: its main pid and descendants, without the
    hub's own handlers (hub.fcgi, hub.cgi)."""
    out, todo = [], [s.front_pid]
    while todo:
        pid = todo.pop()
        try:
            with open('/proc/%d/comm' % pid) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if not comm.startswith('hub.'):
            out.append(pid)
        todo.extend(H.child_pids(pid))
    return out


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/status' % pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def open_streams(s, n, first=0):
    """Opens n streams from several 127.0.0.x addresses; returns (socks,
    failures). A stream counts when its 200 and the opening comment came."""
    socks, pending = [], {}
    sel = selectors.DefaultSelector()
    for i in range(first, first + n):
        src = '127.0.0.%d' % (2 + i // 20000)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((src, 0))
        sock.setblocking(False)
        sock.connect_ex((s.host, s.port))
        sel.register(sock, selectors.EVENT_WRITE, i)
        pending[sock] = bytearray()
    request = ('GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'
               % s.subscribe_target(T)).encode()
    failures = []
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for key, mask in sel.select(1):
            sock = key.fileobj
            if mask & selectors.EVENT_WRITE:
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failures.append('connect: %s' % os.strerror(err))
                    sel.unregister(sock)
                    sock.close()
                    del pending[sock]
                    continue
                sock.send(request)
                sel.modify(sock, selectors.EVENT_READ, key.data)
                continue
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                data, why = b'', repr(e)
            else:
                why = 'closed'
            buf = pending[sock]
            buf += data
            if not data or not buf.startswith(b'HTTP/1.1 200') and b'\r\n' in buf:
                failures.append('%s: %r' % (why, bytes(buf[:60])))
                sel.unregister(sock)
                sock.close()
                del pending[sock]
            elif b'\n:' in buf:  # hubd's opening comment: the stream is live
                sel.unregister(sock)
                socks.append(sock)
                del pending[sock]
    for sock in pending:
        failures.append('no answer within 30 s')
        sel.unregister(sock)
        sock.close()
    return socks, failures


def memory_per_stream(s):
    pids = front_pids(s)
    before = rss_kb(pids)
    socks, failures = open_streams(s, STREAMS)
    try:
        if failures:
            raise RuntimeError('%d of %d streams failed: %s' % (len(failures), STREAMS,
                                                                  failures[0]))
        H.wait_for(lambda: s.stats()['subscribers'] >= STREAMS, 30, 'the streams in hubd')
        time.sleep(0.5)
        after = rss_kb(front_pids(s))
    finally:
        for sock in socks:
            sock.close()
    return (after - before) / STREAMS, len(front_pids(s))


def capacity(front):
    """Opens streams in steps until a step fails; (held, why)."""
    hard = H.resource.getrlimit(H.resource.RLIMIT_NOFILE)[1]
    kw = {'apache_workers': CAP_MAX + 64} if front.startswith('apache') else {'max_fds': hard}
    held, why = [], 'reached the benchmark maximum (FRONTS_BENCH_CAPACITY_MAX)'
    with Stack(front=front, heartbeat=60, **kw) as s:
        try:
            while len(held) < CAP_MAX:
                socks, failures = open_streams(s, min(STEP, CAP_MAX - len(held)), len(held))
                held += socks
                if failures:
                    why = '%d of the next step failed, first: %s' % (len(failures), failures[0])
                    break
            n = len(held)
            front_fds = sum(len(os.listdir('/proc/%d/fd' % p)) for p in front_pids(s)
                            if os.path.exists('/proc/%d/fd' % p))
        finally:
            for sock in held:
                sock.close()
    return n, why, front_fds


def main():
    fronts = [f for f in os.environ.get('FRONTS_BENCH_FRONTS', ' '.join(ALL_FRONTS)).split()]
    rows = {}
    for front in fronts:
        why = front_checks.missing(front)
        if why:
            print('# %s: skipped (%s)' % (front, why))
            continue
        lat, mem = [], []
        for r in range(ROUNDS):
            with Stack(front=front, heartbeat=60, apache_workers=STREAMS + 64) as s:
                p50, p99, mx = added_latency(s)
                kb, nproc = memory_per_stream(s)
            lat.append((p50, p99, mx))
            mem.append(kb)
            print('# %s round %d: added latency p50 %.3f ms, p99 %.3f ms, max %.3f ms; '
                  '%.2f KB per stream (%d processes)' % (front, r + 1, p50, p99, mx, kb, nproc))
            sys.stdout.flush()
        cap = capacity(front) if not SKIP_CAPACITY else (None, 'not measured', None)
        print('# %s: held %s streams; %s (front fds at the end: %s)' % (front, cap[0], cap[1],
                                                                         cap[2]))
        rows[front] = (statistics.median(x[0] for x in lat), statistics.median(x[1] for x in lat),
                       statistics.median(mem), cap)
    print()
    print('%-14s %12s %12s %14s %10s' % ('front', 'added p50', 'added p99', 'KB/stream',
                                          'streams'))
    for front, (p50, p99, kb, cap) in rows.items():
        print('%-14s %9.3f ms %9.3f ms %14.2f %10s' % (front, p50, p99, kb,
                                                       cap[0] if cap[0] is not None else '-'))
    print('(medians of %d rounds; %d updates one at a time; %d idle streams for memory; '
          'streams: until a limit or %d)' % (ROUNDS, UPDATES, STREAMS, CAP_MAX))
    return 0 if rows else 1


if __name__ == '__main__':
    sys.exit(main())
