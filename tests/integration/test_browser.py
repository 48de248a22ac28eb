#!/usr/bin/env python3
"""test_browser.py -- the demo page (contrib/demo/index.html) in a real
browser: Debian's chromium, driven by playwright-core through
tests/browser/driver.mjs, against real hubd + lighttpd serving the page and
its config.js as contrib/quickstart does; the live and hubd-restart checks
run behind Apache (mod_proxy_fcgi) too.

What it proves, as a person at the page would see it: the page opens and
shows it is connected; an update published with an HTTP POST appears at
once, with its id; the page's own form publishes with the demo token; and
after the browser goes offline ("the laptop sleeps"), after the network is
cut under it, after hubd is killed with SIGKILL and after it is stopped with
SIGTERM (restarted on the same database), the page ends up showing every
acknowledged update exactly once, in order; and once hubd is back, however
long it was away, the page is on its stream again within a few seconds. A
screenshot of each final page is saved under BUILDDIR/tests/browser/artifacts/.

And a page written the usual way, one bare EventSource with no
reconnection code of its own, across a hubd restart with hubd away 10 s
(behind lighttpd FastCGI and CGI, and from a page of another origin) and
across hubd's at-capacity refusal:
hub.fcgi's retry answer keeps it trying, and it misses nothing.

Needs /usr/bin/chromium (CHROMIUM), node (NODE) and tests/browser/node_modules
(cd tests/browser && npm ci). Without them it is skipped (exit 77), except
when CI is set: then it fails. Under valgrind (HUBD_VALGRIND=1) it is
skipped: the native pass runs it.
"""

import json
import os
import queue
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import front_checks  # noqa: E402
import harness as H  # noqa: E402
from harness import Stack, expect, expect_eq, scaled  # noqa: E402

CHROMIUM = os.environ.get('CHROMIUM') or '/usr/bin/chromium'
NODE = os.environ.get('NODE') or shutil.which('node') or '/usr/bin/node'
BROWSER_DIR = os.path.join(H.SRCDIR, 'tests', 'browser')
DRIVER = os.path.join(BROWSER_DIR, 'driver.mjs')
ARTIFACTS = os.path.join(H.BUILDDIR, 'tests', 'browser', 'artifacts')
CI = front_checks.CI
T = 'https://example.com/demo'
# How soon after hubd is back the page must be on its stream again: its
# longest retry delay (4 s) plus room for a slow machine.
BACK_WITHIN = 10.0


def missing_requirements():
    out = []
    if not os.access(CHROMIUM, os.X_OK):
        out.append('chromium (%s; apt-get install chromium)' % CHROMIUM)
    if not (NODE and os.access(NODE, os.X_OK)):
        out.append('node (apt-get install nodejs)')
    if not os.path.isdir(os.path.join(BROWSER_DIR, 'node_modules', 'playwright-core')):
        out.append('playwright-core (cd %s && npm ci)' % BROWSER_DIR)
    return out


class Browser:
    """chromium driven by tests/browser/driver.mjs (a node child process),
    one JSON line per command. close() stops both by pid, also when the
    driver hangs: the driver, then chromium's process group."""

    def __init__(self):
        self.tmpdir = tempfile.mkdtemp(prefix='hubd-browser-')
        self.proc = subprocess.Popen([NODE, DRIVER], cwd=BROWSER_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.answers = queue.Queue()
        self.chromium_pids = []
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.version = self.call('launch', timeout=60, executablePath=CHROMIUM,
                                     userDataDir=os.path.join(self.tmpdir, 'profile'))['version']
            # playwright starts chromium in its own process group; remember
            # it so close() can end it even if the driver cannot.
            self.chromium_pids = H.child_pids(self.proc.pid)
        except BaseException:
            self.close()
            raise

    def _read(self):
        for line in self.proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def call(self, cmd, timeout=30.0, **args):
        """Sends one command; returns its answer (a dict). Raises on an
        error answer, on a dead driver, and after timeout seconds."""
        args['cmd'] = cmd
        try:
            self.proc.stdin.write(json.dumps(args) + '\n')
            self.proc.stdin.flush()
        except OSError as e:
            raise AssertionError('browser driver gone (%s) before %s' % (e, cmd))
        try:
            line = self.answers.get(timeout=scaled(timeout))
        except queue.Empty:
            raise H.Timeout('browser driver: no answer to %s within %.0fs' % (cmd, timeout))
        if line is None:
            raise AssertionError('browser driver exited (status %s) during %s'
                                 % (self.proc.wait(10), cmd))
        ans = json.loads(line)
        if not ans.pop('ok'):
            raise AssertionError('browser: %s failed: %s' % (cmd, ans.get('error')))
        return ans

    def snapshot(self):
        """What the page shows: state, lastId, count, result, topic, token,
        items (newest first: id, meta, data, note), pageErrors."""
        return self.call('snapshot')

    def close(self):
        # chromium, also when launch did not answer: the driver's children.
        pids = set(self.chromium_pids) | set(H.child_pids(self.proc.pid))
        if self.proc.poll() is None:
            try:
                self.call('close', timeout=20)
            except Exception as e:
                print('# browser close: %s' % e)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        H.stop_process(self.proc, scaled(10))
        for pid in pids:
            if H.pid_alive(pid):
                print('# chromium (pid %d) outlived its driver: SIGKILL to its group' % pid)
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Relay:
    """A TCP relay on a free loopback port in front of lighttpd: the page is
    loaded through it, so cut() can drop the network under the browser
    without the browser being told (every connection through it is reset,
    new ones are reset at once) until restore(). One thread, no process."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.peer = {}            # socket -> the socket it relays to
        self.down = False
        self.refused = 0          # connections reset at once while cut
        self.commands = queue.Queue()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @staticmethod
    def _reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        except OSError:
            pass
        sock.close()

    def _drop(self, sock):
        other = self.peer.pop(sock, None)
        for x in (sock, other):
            if x is not None:
                self.peer.pop(x, None)
                try:
                    self.sel.unregister(x)
                except (KeyError, ValueError):
                    pass
                self._reset(x)

    def _loop(self):
        while True:
            try:
                cmd, done = self.commands.get_nowait()
            except queue.Empty:
                cmd = None
            if cmd is not None:
                if cmd in ('cut', 'stop'):
                    self.down = True
                    for sock in list(self.peer):
                        self._drop(sock)
                else:
                    self.down = False
                done.set()
                if cmd == 'stop':
                    self.sel.close()
                    self.lsock.close()
                    return
            for key, _ in self.sel.select(0.02):
                sock = key.fileobj
                if sock is self.lsock:
                    c, _ = self.lsock.accept()
                    if self.down:
                        self.refused += 1
                        self._reset(c)
                        continue
                    try:
                        u = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        self._reset(c)
                        continue
                    for a, b in ((c, u), (u, c)):
                        a.settimeout(5)
                        self.peer[a] = b
                        self.sel.register(a, selectors.EVENT_READ, None)
                    continue
                if sock not in self.peer:
                    continue
                try:
                    data = sock.recv(65536)
                    if data:
                        self.peer[sock].sendall(data)
                except OSError:
                    data = b''
                if not data:
                    self._drop(sock)

    def _command(self, cmd):
        done = threading.Event()
        self.commands.put((cmd, done))
        expect(done.wait(10), 'the relay did not %s', cmd)

    def cut(self):
        self._command('cut')

    def restore(self):
        self._command('restore')

    def close(self):
        if self.thread.is_alive():
            self._command('stop')
        self.thread.join(10)


# ---- helpers -------------------------------------------------------------------

def updates(snap):
    """The updates listed on the page, oldest first: [(id, data)]."""
    return [(it['id'], it['data']) for it in reversed(snap['items']) if not it['note']]


def screenshot(b, name, front='lighttpd'):
    if front != 'lighttpd':
        name = '%s-%s' % (front, name)
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, 'demo-%s.png' % name)
    b.call('screenshot', path=path)
    print('# screenshot: %s' % path)
    return path


def wait_state(b, cls, what, timeout=15.0):
    """Waits until the page's connection state has class cls ('open',
    'connecting', 'closed'; a tuple: any of them); returns the snapshot."""
    classes = (cls,) if isinstance(cls, str) else tuple(cls)

    def cond():
        snap = b.snapshot()
        return snap if snap['stateClass'] in classes else None
    try:
        return H.wait_for(cond, scaled(timeout), what, interval=0.05)
    except H.Timeout as e:
        snap = b.snapshot()
        raise H.Timeout('%s (the page shows state %r: %r)' % (e, snap['stateClass'], snap['state']))


def wait_shows(b, want, what, timeout=45.0):
    """Waits until the page lists exactly want ([(id, data)], oldest first).
    Fails at once when it lists an update twice or one not in want."""
    def cond():
        snap = b.snapshot()
        got = updates(snap)
        ids = [i for i, _ in got]
        expect(len(set(ids)) == len(ids), 'the page lists an update twice: %r', got)
        extra = [u for u in got if u not in want]
        expect(not extra, 'the page lists updates it should not: %r', extra)
        return snap if got == want else None
    try:
        snap = H.wait_for(cond, scaled(timeout), what, interval=0.05)
    except H.Timeout as e:
        got = updates(b.snapshot())
        raise H.Timeout('%s\n  page:   %r\n  wanted: %r' % (e, got, want))
    expect(not snap['pageErrors'], 'errors on the page: %r', snap['pageErrors'])
    return snap


def check_exactly_once(s, b, tok, want, what):
    """The page lists want; then one more update proves nothing else was on
    its way (a late duplicate would come before it on the ordered stream)."""
    wait_shows(b, want, what)
    publish(s, tok, 'sentinel after %s' % what, want)
    snap = wait_shows(b, want, 'the sentinel after ' + what)
    expect_eq(snap['lastId'], want[-1][0], 'last event id shown')
    expect_eq(snap['count'], str(len(want)), 'received count shown')


def open_demo(s, b, relay=None):
    """Serves the demo page with a token as the quickstart's, opens it
    (through relay when given), waits until it shows it is connected.
    Returns the token."""
    tok = s.token(publish=['*'], subscribe=['*'])
    url = s.serve_demo(T, tok)
    if relay is not None:
        url = 'http://127.0.0.1:%d/' % relay.port
    ans = b.call('goto', url=url)
    expect_eq(ans['status'], 200, 'GET ' + url)
    snap = wait_state(b, 'open', 'the page to show it is connected')
    expect_eq(snap['state'], 'open', 'state shown')
    expect_eq(snap['topic'], T, 'topic field (from config.js)')
    expect_eq(snap['token'], tok, 'token field (from config.js)')
    expect_eq(updates(snap), [], 'updates on a fresh page')
    return tok


def publish(s, tok, data, acked):
    """Publishes with an HTTP POST and the demo token, as curl would; on 200
    appends (id, data) to acked."""
    uid = s.publish_ok(T, data, token=tok)
    acked.append((uid, data))
    return uid


def failed_reconnects(s):
    """How many of the page's stream requests hub.fcgi refused (with its
    retry answer) because hubd was not there: it logs each one ("GET
    /.well-known/mercure: hubd unreachable: ...") to its stderr, which
    lighttpd writes to lighttpd.out (hub.cgi's: to its error log)."""
    text = ''
    for name in ('lighttpd.out', 'lighttpd.error.log'):
        try:
            with open(os.path.join(s.tmpdir, name), 'rb') as f:
                text += f.read().decode('utf-8', 'replace')
        except OSError:
            pass
    return text.count('GET %s: hubd unreachable' % H.HUB_PATH)


def publish_with_form(b, data, acked):
    """Publishes with the page's own form (its token field holds the demo
    token); waits for the page to show the id the hub answered."""
    b.call('publish_form', data=data)

    def done():
        res = b.snapshot()['result'] or ''
        expect(res in ('', '\u2026') or res.startswith('published '),
               'the form shows an error: %r', res)
        return res.startswith('published ') and res
    res = H.wait_for(done, scaled(10), 'the form to publish', interval=0.05)
    acked.append((res[len('published '):], data))


# ---- tests ---------------------------------------------------------------------

def live_updates_and_publish_form(front):
    """The page connects; an update published with a POST shows up at once
    with its id and its data as text; the page's form publishes too."""
    with Stack(front=front) as s, Browser() as b:
        print('# chromium %s' % b.version)
        tok = open_demo(s, b)
        acked = []
        data = 'first <b>not bold</b> & "quoted"\nsecond line'
        t0 = time.monotonic()
        uid = publish(s, tok, data, acked)
        snap = wait_shows(b, acked, 'the update on the page', timeout=3)
        latency = time.monotonic() - t0
        print('# published -> shown in %.0f ms' % (latency * 1000))
        item = snap['items'][0]
        expect('id ' + uid in item['meta'], 'the update shows its id: %r', item['meta'])
        expect_eq(item['data'], data, 'the update data shown as text')
        expect_eq(snap['lastId'], uid, 'last event id shown')
        expect_eq(snap['count'], '1', 'received count shown')

        publish_with_form(b, 'from the page form', acked)
        check_exactly_once(s, b, tok, acked, 'live updates')
        screenshot(b, 'live', front)


def test_live_updates_and_publish_form():
    live_updates_and_publish_form('lighttpd')


def test_offline_catches_up():
    """The laptop sleeps: the browser goes offline while updates are
    published; back online the page shows each one it missed, once, in
    order."""
    with Stack() as s, Browser() as b:
        tok = open_demo(s, b)
        acked = []
        publish(s, tok, 'before going offline', acked)
        wait_shows(b, acked, 'the first update')
        b.call('offline', value=True)
        snap = wait_state(b, 'closed', 'the page to show it is offline')
        expect('offline' in snap['state'], 'state shown offline: %r', snap['state'])
        for i in range(5):
            publish(s, tok, 'while offline %d' % i, acked)
        expect_eq(updates(b.snapshot()), acked[:1], 'updates shown while offline')
        screenshot(b, 'offline-during')
        b.call('offline', value=False)
        wait_state(b, 'open', 'the page to reconnect', timeout=45)
        publish(s, tok, 'back online', acked)
        check_exactly_once(s, b, tok, acked, 'going offline')
        screenshot(b, 'offline')


def test_network_cut_catches_up():
    """The network drops under the page without the browser being told:
    its stream is reset and reconnecting fails for a while; once the
    network is back the page shows each update it missed, once, in order
    (the browser's own reconnection, with the Last-Event-ID header)."""
    with Stack() as s, Browser() as b:
        relay = Relay(s.host, s.port)
        try:
            tok = open_demo(s, b, relay)
            acked = []
            publish(s, tok, 'before the cut', acked)
            wait_shows(b, acked, 'the first update')
            relay.cut()
            snap = wait_state(b, ('connecting', 'closed'), 'the page to notice the cut')
            print('# during the cut the page shows %r' % snap['state'])
            for i in range(5):
                publish(s, tok, 'during the cut %d' % i, acked)
            # At least one reconnection attempt fails before the network is back.
            H.wait_for(lambda: relay.refused, scaled(20), 'the browser to try to reconnect')
            relay.restore()
            wait_state(b, 'open', 'the page to reconnect', timeout=45)
            publish(s, tok, 'after the cut', acked)
            check_exactly_once(s, b, tok, acked, 'the network cut')
            screenshot(b, 'network-cut')
        finally:
            relay.close()


def hubd_restart(sig, name, front='lighttpd'):
    """Updates published before hubd is stopped with sig, while it is down
    (refused) and after it is restarted on the same database: the page
    shows every acknowledged one, once, in order."""
    with Stack(front=front) as s, Browser() as b:
        tok = open_demo(s, b)
        acked = []
        for i in range(2):
            publish(s, tok, 'before %s %d (seen live)' % (name, i), acked)
        wait_shows(b, acked, 'the first updates')
        for i in range(3):
            publish(s, tok, 'just before %s %d' % (name, i), acked)
        st = s.kill_hubd(sig)
        if sig == signal.SIGTERM:
            expect_eq(st, 0, 'hubd exit status on SIGTERM')
        st, _, body = s.publish(T, 'while hubd is down', token=tok)
        expect_eq(st, 503, 'publish while hubd is down (%r)' % body)
        # The hub's retry answer keeps the browser's EventSource trying.
        wait_state(b, 'connecting', 'the page to show it lost the hub', timeout=30)
        s.start_hubd()
        for i in range(3):
            publish(s, tok, 'after restart %d' % i, acked)
        wait_state(b, 'open', 'the page to reconnect', timeout=BACK_WITHIN)
        publish(s, tok, 'after reconnecting', acked)
        check_exactly_once(s, b, tok, acked, name)
        screenshot(b, name, front)


def test_hubd_sigkill_catches_up():
    """hubd killed with SIGKILL while the page is open."""
    hubd_restart(signal.SIGKILL, 'sigkill')


def test_hubd_sigterm_catches_up():
    """hubd stopped with SIGTERM (it ends the streams cleanly)."""
    hubd_restart(signal.SIGTERM, 'sigterm')


def test_back_soon_after_a_long_outage():
    """hubd stays down while the page fails to reconnect five times (a
    slow restart, a deploy): once hubd is back, the page is on its stream
    again within a few seconds -- its retry delay must not have grown
    with the outage -- and shows every update, once, in order."""
    with Stack() as s, Browser() as b:
        tok = open_demo(s, b)
        acked = []
        publish(s, tok, 'before the outage', acked)
        wait_shows(b, acked, 'the first update')
        s.kill_hubd(signal.SIGTERM)
        H.wait_for(lambda: failed_reconnects(s) >= 5, scaled(60),
                   "five of the page's reconnects to fail", interval=0.05)
        snap = wait_state(b, 'connecting', 'the page to show it lost the hub')
        expect(snap['state'].startswith('hub unavailable (503), retrying in '),
               'the page shows the hub\'s retry answer: %r', snap['state'])
        s.start_hubd()
        back = time.monotonic()
        publish(s, tok, 'after the outage', acked)
        wait_state(b, 'open', 'the page back on its stream soon after hubd',
                   timeout=BACK_WITHIN)
        print('# %d reconnects failed; back on the stream %.1f s after hubd'
              % (failed_reconnects(s), time.monotonic() - back))
        check_exactly_once(s, b, tok, acked, 'a long outage')
        screenshot(b, 'outage')


# ---- a plain EventSource: a page with no reconnection code of its own -------

# The page a site writes the usual way: one EventSource, never re-created.
# It only records what it sees (for the test to read); the hubd-retry
# listener observes the hub's retry answers and changes nothing.
PLAIN_PAGE = """<!doctype html>
<meta charset="utf-8"><title>plain EventSource</title>
<script>
window.got = []; window.seen = [];
var es = new EventSource(%s);
es.onopen = function () { seen.push(['open', es.readyState]); };
es.onmessage = function (e) { got.push([e.lastEventId, e.data]); };
es.addEventListener('hubd-retry', function (e) { seen.push(['retry', JSON.parse(e.data)]); });
es.onerror = function () { seen.push(['error', es.readyState]); };
</script>
"""


def open_plain(s, b, topic, hub=H.HUB_PATH):
    """Serves PLAIN_PAGE for topic and the hub at URL hub, opens it, waits
    until its EventSource is open."""
    with open(os.path.join(s.docroot, 'plain.html'), 'w') as f:
        f.write(PLAIN_PAGE % json.dumps(hub + '?topic=' + topic))
    ans = b.call('goto', url=s.base_url + '/plain.html')
    expect_eq(ans['status'], 200, 'GET /plain.html')
    H.wait_for(lambda: plain(b, 'es.readyState') == 1, scaled(15), 'the EventSource to open',
               interval=0.05)


def plain(b, expression):
    return b.call('evaluate', expression=expression)['value']


def never_closed(b):
    """Fails when the plain page's EventSource ever gave up (CLOSED)."""
    seen = plain(b, 'seen')
    expect(['error', 2] not in seen, 'the EventSource gave up (CLOSED): %r', seen)


def plain_shows(b, want, what, timeout=30.0):
    """Waits until the plain page received exactly want ([(id, data)]), in
    order; fails at once on a duplicate or an update not in want, and when
    its EventSource ever gave up (CLOSED)."""
    def cond():
        got = [tuple(x) for x in plain(b, 'got')]
        expect(len(set(got)) == len(got), 'the page received an update twice: %r', got)
        expect(all(u in want for u in got), 'the page received unexpected updates: %r', got)
        never_closed(b)
        return got == want
    try:
        H.wait_for(cond, scaled(timeout), what, interval=0.05)
    except H.Timeout as e:
        raise H.Timeout('%s\n  page:   %r\n  wanted: %r' % (e, plain(b, 'got'), want))


def plain_across_a_restart(front, cross_origin=False):
    """A bare `new EventSource(url)` behind front, hubd stopped with
    SIGTERM and started again 10 s later: while hubd is away the page keeps
    reconnecting (hub.fcgi's retry answers: never CLOSED), then resumes
    with Last-Event-ID and receives everything acknowledged, once, in
    order, also what was published right after the restart. cross_origin:
    the page (http://127.0.0.1:PORT) uses the hub at http://localhost:PORT,
    allowed by --cors-origins."""
    env = {'HUBD_RETRY': '1000-3000'}
    args = ['--retry', '1000-3000'] + (['--cors-origins', '*'] if cross_origin else [])
    with Stack(front=front, fcgi_env=env, extra_hubd_args=args) as s, Browser() as b:
        hub = H.HUB_PATH
        if cross_origin:
            hub = 'http://localhost:%d%s' % (s.port, H.HUB_PATH)
        open_plain(s, b, T, hub)
        acked = []
        for i in range(3):
            publish(s, H.DEFAULT, 'before the restart %d' % i, acked)
        plain_shows(b, acked, 'the updates before the restart')
        expect_eq(s.kill_hubd(signal.SIGTERM), 0, 'hubd exit status on SIGTERM')
        st, _, _ = s.publish(T, 'while hubd is down')
        expect_eq(st, 503, 'a publish while hubd is down')
        time.sleep(10)
        never_closed(b)
        refused = failed_reconnects(s)
        expect(refused >= 2, 'the page kept reconnecting while hubd was down: %d tries', refused)
        s.start_hubd()
        publish(s, H.DEFAULT, 'right after the restart', acked)
        plain_shows(b, acked, 'the update published after the restart', timeout=15)
        publish(s, H.DEFAULT, 'live again', acked)
        plain_shows(b, acked, 'a live update after the restart')
        retries = [x[1] for x in plain(b, 'seen') if x[0] == 'retry']
        expect(retries and all(r['status'] == 503 and 1000 <= r['retry'] <= 3000
                               for r in retries), 'the retry answers the page saw: %r', retries)
        print('# %d refused reconnects while hubd was down, delays %r'
              % (refused, [r['retry'] for r in retries]))


def test_plain_eventsource_across_a_restart():
    plain_across_a_restart('lighttpd')


def test_plain_eventsource_cross_origin_across_a_restart():
    """The same for a page of another origin (CORS): the retry answer lets
    it read it while hubd, which knows the allowed origins, is away."""
    plain_across_a_restart('lighttpd', cross_origin=True)


def test_cgi_plain_eventsource_across_a_restart():
    """The same with hub.cgi behind lighttpd mod_cgi."""
    plain_across_a_restart('lighttpd-cgi')


def test_plain_eventsource_at_capacity():
    """The same page refused because hubd is at --max-subscribers: it
    keeps retrying (HUBD_RETRY_BUSY's delays), gets in once a slot is free,
    resumes from its last id and misses nothing."""
    env = {'HUBD_RETRY': '3000-4000', 'HUBD_RETRY_BUSY': '1000-2000'}
    args = ['--max-subscribers', '1', '--retry', '3000-4000']
    # heartbeat 1: hubd notices the stream that leaves at its next write.
    with Stack(fcgi_env=env, heartbeat=1, extra_hubd_args=args) as s, Browser() as b:
        open_plain(s, b, T)
        acked = []
        publish(s, H.DEFAULT, 'before', acked)
        plain_shows(b, acked, 'the first update')
        # Restart hubd and fill its one slot before the page is back (it
        # waits 3-4 s, the retry its stream opened with).
        s.kill_hubd(signal.SIGTERM)
        s.start_hubd()
        filler = s.subscribe(T)
        H.wait_for(lambda: never_closed(b) or any(x[0] == 'retry' and x[1]['retry'] <= 2000
                                                  for x in plain(b, 'seen')),
                   scaled(15), 'the page to be refused at capacity', interval=0.1)
        publish(s, H.DEFAULT, 'while the page is refused', acked)
        time.sleep(3)
        never_closed(b)
        filler.close()
        plain_shows(b, acked, 'the update published while it was refused', timeout=15)
        publish(s, H.DEFAULT, 'live', acked)
        plain_shows(b, acked, 'a live update once in')
        busy = [x[1] for x in plain(b, 'seen') if x[0] == 'retry' and x[1]['retry'] <= 2000]
        print('# refused %d times at capacity' % len(busy))


# The same page behind Apache (mod_proxy_fcgi, contrib/apache/hubd.conf).

def test_apache_live_updates_and_publish_form():
    live_updates_and_publish_form('apache')


def test_apache_hubd_sigkill_catches_up():
    hubd_restart(signal.SIGKILL, 'sigkill', 'apache')


def test_apache_hubd_sigterm_catches_up():
    hubd_restart(signal.SIGTERM, 'sigterm', 'apache')


def skip_unless_browser_runs():
    """Skips the browser test program (exit 77) under valgrind (the native
    pass runs it) or without chromium, node or playwright-core; in CI,
    where they must be installed, their absence fails it."""
    if H.VALGRIND:
        front_checks.skip('under valgrind (HUBD_VALGRIND=1): the native pass runs the '
                          'browser test')
    missing = missing_requirements()
    if missing:
        for m in missing:
            print('# missing: %s' % m)
        if CI:
            print('not ok - the browser test cannot run in CI (CI=%s)' % os.environ.get('CI'))
            print('0 passed, 1 failed')
            sys.exit(1)
        front_checks.skip('the browser test needs the above (contrib/quickstart test '
                          'installs them)')


if __name__ == '__main__':
    skip_unless_browser_runs()
    H.run_tests(globals())
