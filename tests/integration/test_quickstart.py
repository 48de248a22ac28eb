#!/usr/bin/env python3
"""test_quickstart.py -- `contrib/quickstart run`, as a new user runs it,
for every HUBD_SERVER (lighttpd, lighttpd-cgi, apache, apache-cgi, nginx),
with this build (HUBD_BUILD_DIR: its make finds nothing to do): it comes
up, prints a publisher token and the URL, serves the demo page and its
config.js, an update published with the printed token reaches a
subscriber, and SIGTERM stops everything it started (no process left that
names its state or run directory). Then once more with HUBD_STORE=redis
and HUBD_NODES=2 behind lighttpd: two nodes on a private redis-server,
the update published on node 1 reaches a subscriber of node 2; and with
HUBD_REDIS, on a Redis already running, which it leaves running.

A server whose package is missing here is skipped, except in CI (see
front_checks.missing). Skipped under valgrind: the native and sanitizer
passes run it."""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402
import harness as H  # noqa: E402
from harness import expect, expect_eq, scaled  # noqa: E402

QUICKSTART = os.path.join(H.SRCDIR, 'contrib', 'quickstart')
TOPIC = 'https://example.com/demo'
SERVERS = ('lighttpd', 'lighttpd-cgi', 'apache', 'apache-cgi', 'nginx')


def processes_naming(*paths):
    """Pids whose command line names one of paths."""
    out = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
        except OSError:
            continue
        if any(p in cmd for p in paths):
            out.append((int(pid), cmd))
    return out


def get(port, path, timeout=10):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, r.read().decode('utf-8', 'replace')
    finally:
        c.close()


def free_port_pair():
    """A free port whose next port is free too (HUBD_NODES=2 takes both)."""
    for _ in range(50):
        port = H.free_port()
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port + 1))
                return port
            except OSError:
                continue
    raise AssertionError('no two free ports in a row')


def round_trip(sub_port, pub_port, param, sub_token, pub_token, fields, what):
    """A stream on sub_port (TOPIC under param, with sub_token when not
    None) receives the update published on pub_port with pub_token."""
    auth = 'Authorization: Bearer %s\r\n' % sub_token if sub_token else ''
    sub = socket.create_connection(('127.0.0.1', sub_port), timeout=scaled(10))
    sub.sendall(('GET /.well-known/mercure?%s=%s HTTP/1.1\r\nHost: x\r\n%s\r\n'
                 % (param, urllib.parse.quote(TOPIC, safe=''), auth)).encode())
    parser = H.ResponseParser(sse=True, keep_body=False)
    H.wait_for(lambda: parser.feed(sub.recv(65536)) or parser.sse.comments or parser.status,
               scaled(10), 'the stream to open (%s)' % what, interval=0)
    expect_eq(parser.status, 200, 'subscribe status (%s)' % what)
    c = http.client.HTTPConnection('127.0.0.1', pub_port, timeout=scaled(10))
    c.request('POST', '/.well-known/mercure', urllib.parse.urlencode(dict(fields, topic=TOPIC)),
              {'Authorization': 'Bearer ' + pub_token,
               'Content-Type': 'application/x-www-form-urlencoded'})
    r = c.getresponse()
    uid = r.read().decode()
    c.close()
    expect_eq(r.status, 200, 'publish with %s (%r)' % (what, uid))
    H.wait_for(lambda: parser.sse.events or parser.feed(sub.recv(65536)),
               scaled(10), 'the update on the stream (%s)' % what, interval=0)
    ev = parser.sse.events.popleft()
    expect_eq((ev['id'], ev['data']), (uid, fields['data']), 'the update (%s)' % what)
    sub.close()


def run_quickstart(server, nodes=1, redis=None):
    state = tempfile.mkdtemp(prefix='hubd-qs-test-')
    port = free_port_pair() if nodes > 1 else H.free_port()
    env = dict(os.environ, HUBD_SERVER=server, HUBD_PORT=str(port), HUBD_STATE_DIR=state,
               HUBD_BUILD_DIR=H.BUILDDIR)
    if nodes > 1 or redis:
        env.update(HUBD_STORE='redis', HUBD_NODES=str(nodes))
    if redis:
        env.update(HUBD_REDIS=redis.address)
    sub_port = port + nodes - 1  # the last node subscribes; node 1 publishes
    out_path = os.path.join(state, 'quickstart.out')
    out = open(out_path, 'wb')
    # Its own session, as a terminal would give it.
    proc = subprocess.Popen(['bash', QUICKSTART, 'run'], stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    out.close()

    def text():
        with open(out_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    paths = [state]
    try:
        H.wait_for(lambda: 'Ctrl-C stops' in text() or proc.poll() is not None,
                   scaled(120), 'quickstart run to come up')
        shown = text()
        expect(proc.poll() is None, 'quickstart run exited (%s):\n%s', proc.returncode, shown)
        m = re.search(r'Demo publisher JWT[^\n]*\n\s*(\S+)', shown)
        expect(m, 'no token printed:\n%s', shown)
        token = m.group(1)
        m = re.search(r'Mercure 1\.0 \(draft-08\) access token[^\n]*\n\s*(\S+)', shown)
        expect(m, 'no Mercure 1.0 token printed:\n%s', shown)
        token08 = m.group(1)
        expect('http://127.0.0.1:%d/' % port in shown, 'the URL is printed')
        run_dir = re.search(r'(/tmp/hubd-quickstart\.\w+)', '\n'.join(
            c for _, c in processes_naming(state)) or '')
        if run_dir:
            paths.append(run_dir.group(1))
        st, body = get(port, '/')
        expect_eq(st, 200, 'GET / (the demo page)')
        expect('hubd demo' in body, 'the demo page: %r', body[:200])
        st, body = get(port, '/config.js')
        expect_eq(st, 200, 'GET /config.js')
        expect(token in body and TOPIC in body, 'config.js holds the token and topic')

        round_trip(sub_port, port, 'topic', None, token, {'data': 'via ' + server},
                   'the printed token')
        # The printed Mercure 1.0 token: a draft-08 stream gets a private
        # update published with it (on every node: one resource for all).
        round_trip(sub_port, port, 'match', token08, token08,
                   {'data': 'private 1.0', 'private': 'on'}, 'the printed 1.0 token')

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(scaled(30))
        expect_eq(rc, 143, 'quickstart exit status on SIGTERM')
        started = re.search(r'starting redis-server on 127\.0\.0\.1:(\d+)', shown)
        expect(bool(started) == (nodes > 1 and not redis),
               'a redis-server is started exactly with HUBD_STORE=redis and no HUBD_REDIS')

        def redis_gone():
            # redis-server renames its process: it is found by its port
            if not started:
                return True
            try:
                socket.create_connection(('127.0.0.1', int(started.group(1))), timeout=1).close()
                return False
            except OSError:
                return True
        left = H.wait_for(lambda: not processes_naming(*paths) and redis_gone() and 'none',
                          scaled(5), 'every process quickstart started to stop')
        expect(left, 'left: %r', processes_naming(*paths))
        expect(run_dir is None or not os.path.exists(run_dir.group(1)),
               'the run directory is removed')
        if redis:
            expect(redis.ping(), 'the Redis of HUBD_REDIS is left running')
            expect_eq(redis.command('XLEN', 'hubd-quickstart:log'), 2,
                      'the two updates (draft-07, draft-08) are in its log, under the '
                      'quickstart prefix')
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid, _ in processes_naming(*paths):
            os.kill(pid, signal.SIGKILL)
        print('# quickstart run with HUBD_SERVER=%s%s: output in %s'
              % (server, ' HUBD_STORE=redis HUBD_NODES=%d' % nodes if nodes > 1 else '',
                 out_path))


def quickstart_on_own_redis():
    """HUBD_REDIS: the quick start on a Redis that runs already."""
    with H.RedisServer() as redis:
        run_quickstart('lighttpd', 1, redis)


def main():
    if H.VALGRIND:
        front_checks.skip('under valgrind (HUBD_VALGRIND=1): the other passes run it')
    cases = {s: {'test_%s' % s.replace('-', '_'): (lambda s=s: run_quickstart(s))}
             for s in SERVERS}
    cases['lighttpd']['test_lighttpd_redis_two_nodes'] = lambda: run_quickstart('lighttpd', 2)
    cases['lighttpd']['test_lighttpd_hubd_redis'] = quickstart_on_own_redis
    front_checks.run_where_possible(cases, __file__)


if __name__ == '__main__':
    main()
