"""harness.py -- start a real hubd behind a real lighttpd and talk to both.

Used by every integration test (tests/integration/test_*.py) and by the
benchmark (tests/bench/). Python 3 standard library only. lighttpd (the
default front) runs the operator's snippet, contrib/lighttpd/hubd.conf,
with the stack's paths, limits and hub.fcgi environment put in.

    with Stack(heartbeat=2) as s:
        sub = s.subscribe('https://example.com/a')
        status, headers, body = s.publish(['https://example.com/a'], data='hi')
        ev = sub.next_event(timeout=5)      # {'id': body, 'event': None, ...}

Environment:
    HUBD_BUILDDIR      build tree holding hubd/hubd, fcgi/hub.fcgi, hubctl/hubctl
                       (default: the current directory)
    HUBD_SRCDIR        source tree (default: two levels above this file)
    HUBD_VALGRIND=1    run hubd under valgrind (errors make hubd exit 99,
                       which fails the test when the stack stops)
    HUBD_LOG_LEVEL     hubd's --log-level (default info)
    HUBD_TIMEOUT_SCALE multiply every deadline (default 1, 8 under valgrind)
    HUBD_KEEP_TMP=1    keep each stack's temporary directory
    LIGHTTPD           the lighttpd binary (default: found on PATH or /usr/sbin)
    APACHE2            the Apache binary for Stack(front='apache') (default:
                       apache2 or httpd on PATH, or /usr/sbin/apache2)
    APACHE_MODULES     its modules directory (default /usr/lib/apache2/modules)
    NGINX              the nginx binary for Stack(front='nginx') (default: nginx
                       on PATH, or /usr/sbin/nginx)
    HUBD_NGINX_TEMPLATE  its config template (default
                       contrib/nginx/quickstart.conf; same @PLACEHOLDERS@)
    HUBD_NGINX_SNIPPET   the hub's part it includes (default
                       contrib/nginx/hubd.conf; /run/hubd/hub.fcgi.sock and
                       "include fastcgi_params;" are replaced)

Stack(front='apache') puts Apache (mpm_event + mod_proxy_fcgi) in front
instead of lighttpd: Apache does not spawn FastCGI programs, so the stack
binds hub.fcgi's listening Unix socket itself and starts max_procs hub.fcgi
processes with it as their stdin (the FastCGI convention), then starts its
own apache2 -DFOREGROUND with a self-contained config in the temp directory.

Stack(front='nginx') puts nginx (ngx_http_fastcgi_module, fastcgi_buffering
off) in front: like Apache, nginx never spawns FastCGI programs, so hub.fcgi
runs the same way; nginx runs as one master and one worker process with
contrib/nginx/quickstart.conf filled in (nothing of /etc/nginx is read).

Stack(front='lighttpd-cgi') / Stack(front='apache-cgi') run hub.cgi as a
plain CGI program instead: lighttpd mod_cgi (alias.url of the hub's path to
hub.cgi, HUBD_SOCKET through setenv.add-environment), or Apache mpm_event +
mod_cgid (ScriptAlias, CGIPassAuth On, SetEnv HUBD_SOCKET; as root, hub.cgi
runs as www-data, so hubd's socket gets mode 0666). Nothing is spawned
ahead: each request forks its own short-lived hub.cgi.

Every process a Stack starts is stopped by pid (SIGTERM, then SIGKILL after
a deadline), also when a test fails. Readiness is polled with deadlines,
never slept for.
"""

import atexit
import base64
import collections
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
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
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get('HUBD_SRCDIR') or os.path.join(HERE, '..', '..'))
BUILDDIR = os.path.abspath(os.environ.get('HUBD_BUILDDIR') or os.getcwd())
VALGRIND = os.environ.get('HUBD_VALGRIND', '') not in ('', '0', 'no')
TIMEOUT_SCALE = float(os.environ.get('HUBD_TIMEOUT_SCALE') or (8 if VALGRIND else 1))
HUB_PATH = '/.well-known/mercure'
# RFC 9728: the hub's protected resource metadata (Mercure 1.0 discovery).
METADATA_PATH = '/.well-known/oauth-protected-resource/.well-known/mercure'
DEFAULT = object()  # "use the default" marker for keyword arguments


def scaled(seconds):
    """A deadline in seconds, stretched when hubd runs under valgrind."""
    return seconds * TIMEOUT_SCALE


def program(rel):
    """Absolute path of a built program, e.g. program('hubd/hubd')."""
    return os.path.join(BUILDDIR, rel)


def raise_nofile_limit():
    """Raises the soft RLIMIT_NOFILE to the hard limit (for many sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    elif hard == resource.RLIM_INFINITY and soft < 1 << 20:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


raise_nofile_limit()


class Timeout(AssertionError):
    """Nothing arrived before the deadline."""


class Closed(AssertionError):
    """The stream ended (cleanly or not) before what was asked for came."""


class ProtocolError(AssertionError):
    """The peer sent bytes that are not valid HTTP/1.1 or chunked coding."""


def wait_for(cond, timeout, what='condition', interval=0.02):
    """Polls cond() until it returns a true value, which is returned.
    Raises Timeout after timeout seconds (not scaled here)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Timeout('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(interval)


def free_port(host='127.0.0.1'):
    """A TCP port that was free a moment ago on host."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def child_pids(pid):
    """Direct children of pid (Linux /proc)."""
    out = []
    try:
        for tid in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, tid)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def process_name(pid):
    """The command name of pid (/proc/PID/comm), or None when it is gone."""
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def stop_process(proc, timeout=10.0, sig=signal.SIGTERM):
    """Stops a Popen by pid: sig, wait up to timeout, then SIGKILL.
    Returns the exit status (negative = killed by that signal)."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
            return 'killed after %s s' % timeout
    return proc.returncode


def stop_nginx(master, workers, timeout=15.0, worker_timeout=5.0):
    """Stops an nginx: SIGTERM to the master (fast shutdown: it closes every
    connection and stops its workers), then makes sure none of workers (pids
    seen while it ran) survives, SIGKILL by pid if one does. Returns
    (the master's stop_process status, the pids of workers that had to be
    killed)."""
    st = stop_process(master, timeout)
    killed = []
    for pid in workers:
        deadline = time.monotonic() + worker_timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid_alive(pid):
            killed.append(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return st, killed


# ---- JWT -------------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def make_jwt(claims, key, alg='HS256', header=None):
    """Encodes claims as a JWS. alg 'HS256' signs with key; 'none' makes an
    unsigned token (empty signature), for negative tests."""
    hdr = {'alg': alg, 'typ': 'JWT'}
    if header:
        hdr.update(header)
    signing_input = (b64url(json.dumps(hdr, separators=(',', ':'))) + '.' +
                     b64url(json.dumps(claims, separators=(',', ':'))))
    if alg == 'none':
        return signing_input + '.'
    if alg != 'HS256':
        raise ValueError('only HS256 and none are supported')
    if isinstance(key, str):
        key = key.encode()
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + '.' + b64url(sig)


def decode_jwt_unverified(token):
    """(header, claims) of a JWS, without checking the signature."""
    def dec(s):
        return json.loads(base64.urlsafe_b64decode(s + '=' * (-len(s) % 4)))
    h, c, _ = token.split('.')
    return dec(h), dec(c)


def verify_hs256(token, key):
    signing_input, _, sig = token.rpartition('.')
    if isinstance(key, str):
        key = key.encode()
    want = b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
    return hmac.compare_digest(want, sig)


# ---- HTTP/1.1 response + SSE parsing ----------------------------------------

class SSEParser:
    """Incremental Server-Sent Events parser following the HTML standard's
    "event stream interpretation": lines end at CRLF, LF or CR; ':' starts a
    comment; "field: value" drops one leading space; a blank line dispatches.
    Each dispatched event is a dict: id (the id: field of this event, or None
    when it had none), last_event_id (the stream's last event id buffer),
    event (None = "message"), data, retry (int or None)."""

    def __init__(self):
        self.events = collections.deque()
        self.comments = []        # comment texts, in order
        self.last_event_id = ''
        self.reconnection_time = None
        self._line = bytearray()
        self._after_cr = False
        self._first = True
        self._reset_event()

    def _reset_event(self):
        self._data = []
        self._event = None
        self._id = None
        self._retry = None
        self._fields = 0

    def feed(self, data):
        line = self._line
        for b in data:  # simple and fast enough for test volumes
            if self._after_cr:
                self._after_cr = False
                if b == 10:
                    continue
            if b == 13:
                self._after_cr = True
                self._line_done()
            elif b == 10:
                self._line_done()
            else:
                line.append(b)

    def feed_fast(self, data):
        """Like feed, but splits with bytes methods: much faster for big
        payloads. Equivalent to feed()."""
        if self._after_cr and data[:1] == b'\n':
            data = data[1:]
        self._after_cr = False
        start = 0
        n = len(data)
        while start < n:
            i_lf = data.find(b'\n', start)
            i_cr = data.find(b'\r', start)
            if i_lf < 0 and i_cr < 0:
                self._line += data[start:]
                return
            if i_cr < 0 or (0 <= i_lf < i_cr):
                i, step = i_lf, 1
            else:
                i = i_cr
                if i + 1 < n:
                    step = 2 if data[i + 1] == 10 else 1
                else:
                    step = 1
                    self._after_cr = True
            self._line += data[start:i]
            self._line_done()
            start = i + step

    def _line_done(self):
        raw = bytes(self._line)
        self._line.clear()
        text = raw.decode('utf-8', 'replace')
        if self._first:
            self._first = False
            if text.startswith('\ufeff'):
                text = text[1:]
        if text == '':
            self._dispatch()
            return
        if text.startswith(':'):
            self.comments.append(text[1:])
            return
        name, sep, value = text.partition(':')
        if sep and value.startswith(' '):
            value = value[1:]
        self._fields += 1
        if name == 'data':
            self._data.append(value)
        elif name == 'event':
            self._event = value
        elif name == 'id':
            if '\0' not in value:
                self._id = value
                self.last_event_id = value
        elif name == 'retry':
            if value.isdigit() and value.isascii():
                self._retry = int(value)
                self.reconnection_time = self._retry
        # other fields are ignored, as the standard says

    def _dispatch(self):
        if self._fields == 0:
            return
        if self._data or self._event is not None or self._id is not None:
            # The standard only dispatches when the data buffer is non-empty;
            # we keep id-only blocks visible too, flagged. A block of only
            # retry: (hubd opens every stream with one) just sets
            # reconnection_time.
            ev = {
                'id': self._id,
                'last_event_id': self.last_event_id,
                'event': self._event,
                'data': '\n'.join(self._data),
                'retry': self._retry,
                'has_data': bool(self._data),
            }
            self.events.append(ev)
        self._reset_event()


class ResponseParser:
    """Incremental HTTP/1.1 response parser: status line, headers, then the
    body by Content-Length, chunked coding or up to EOF. Body bytes go to
    self.body (when keep_body) and to an SSEParser (when sse).

    feed(b'') means the connection reached EOF."""

    def __init__(self, sse=True, keep_body=True, head_only=False):
        self.buf = bytearray()
        self.status = None
        self.reason = None
        self.version = None
        self.header_list = []
        self.head_done = False
        self.ended = False        # the response body is complete (or EOF)
        self.clean_end = False    # ended by its framing, not by a cut
        self.eof = False
        self.chunked = False
        self.chunks = 0
        self.body = bytearray() if keep_body else None
        self.body_len = 0
        self.sse = SSEParser() if sse else None
        self._remaining = None    # Content-Length left, or chunk bytes left
        self._state = 'head'
        self.head_only = head_only  # HEAD request: no body follows

    # headers
    def header(self, name, default=None):
        name = name.lower()
        for k, v in reversed(self.header_list):
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.header_list if k.lower() == name]

    @property
    def headers(self):
        return {k.lower(): v for k, v in self.header_list}

    def feed(self, data):
        if self.ended:
            if data == b'':
                self.eof = True
            return
        if data == b'':
            self.eof = True
            self._on_eof()
            return
        self.buf += data
        self._run()

    def _body(self, b):
        if not b:
            return
        self.body_len += len(b)
        if self.body is not None:
            self.body += b
        if self.sse is not None:
            self.sse.feed_fast(bytes(b))

    def _run(self):
        while True:
            st = self._state
            if st == 'head':
                i = self.buf.find(b'\r\n\r\n')
                if i < 0:
                    if len(self.buf) > 65536:
                        raise ProtocolError('response head too long')
                    return
                head = bytes(self.buf[:i]).decode('iso-8859-1')
                del self.buf[:i + 4]
                lines = head.split('\r\n')
                parts = lines[0].split(' ', 2)
                if len(parts) < 2 or not parts[0].startswith('HTTP/'):
                    raise ProtocolError('bad status line %r' % lines[0])
                self.version = parts[0]
                self.status = int(parts[1])
                self.reason = parts[2] if len(parts) > 2 else ''
                for ln in lines[1:]:
                    k, sep, v = ln.partition(':')
                    if not sep:
                        raise ProtocolError('bad header line %r' % ln)
                    self.header_list.append((k.strip(), v.strip()))
                if 100 <= self.status < 200:
                    self.header_list = []
                    continue
                self.head_done = True
                te = (self.header('transfer-encoding') or '').lower()
                cl = self.header('content-length')
                if self.head_only or self.status in (204, 304):
                    self._finish(True)
                    return
                if 'chunked' in te:
                    self.chunked = True
                    self._state = 'size'
                elif cl is not None:
                    self._remaining = int(cl)
                    self._state = 'length'
                    if self._remaining == 0:
                        self._finish(True)
                        return
                else:
                    self._state = 'close'
            elif st == 'length':
                take = bytes(self.buf[:self._remaining])
                del self.buf[:len(take)]
                self._remaining -= len(take)
                self._body(take)
                if self._remaining == 0:
                    self._finish(True)
                return
            elif st == 'close':
                take = bytes(self.buf)
                self.buf.clear()
                self._body(take)
                return
            elif st == 'size':
                i = self.buf.find(b'\r\n')
                if i < 0:
                    if len(self.buf) > 1024:
                        raise ProtocolError('chunk size line too long')
                    return
                line = bytes(self.buf[:i]).split(b';', 1)[0].strip()
                del self.buf[:i + 2]
                try:
                    size = int(line, 16)
                except ValueError:
                    raise ProtocolError('bad chunk size %r' % line)
                if size == 0:
                    self._state = 'trailer'
                else:
                    self.chunks += 1
                    self._remaining = size
                    self._state = 'data'
            elif st == 'data':
                if not self.buf:
                    return
                take = bytes(self.buf[:self._remaining])
                del self.buf[:len(take)]
                self._remaining -= len(take)
                self._body(take)
                if self._remaining:
                    return
                self._state = 'data_crlf'
            elif st == 'data_crlf':
                if len(self.buf) < 2:
                    return
                if self.buf[:2] != b'\r\n':
                    raise ProtocolError('chunk not followed by CRLF: %r' % bytes(self.buf[:10]))
                del self.buf[:2]
                self._state = 'size'
            elif st == 'trailer':
                i = self.buf.find(b'\r\n')
                if i < 0:
                    return
                line = self.buf[:i]
                del self.buf[:i + 2]
                if i == 0:
                    self._finish(True)
                    return
            else:
                return

    def _finish(self, clean):
        self.ended = True
        self.clean_end = clean
        self._state = 'done'

    def _on_eof(self):
        if self._state == 'close':
            self._finish(True)
        else:
            self._finish(False)


class SSEClient:
    """A raw-socket HTTP/1.1 GET that reads an event stream.

    The constructor connects, sends the request and reads the response
    head (raising Timeout if it does not come in time). For a non-200
    answer the whole body is read (self.body). Attributes: status,
    headers (lower-case names), header(name), parser, comments (count)."""

    def __init__(self, host, port, target, headers=None, timeout=10.0,
                 rcvbuf=None, keep_body=True, wait_ok=True, http10=False):
        self.host, self.port, self.target = host, port, target
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the TCP window starts small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.parser = ResponseParser(sse=True, keep_body=keep_body)
        self._closed = False
        try:
            self.sock.connect((host, port))
            req = ['GET %s HTTP/%s' % (target, '1.0' if http10 else '1.1'),
                   'Host: %s:%d' % (host if ':' not in host else '[%s]' % host, port),
                   'Accept: text/event-stream', 'Cache-Control: no-cache']
            for k, v in (headers or {}).items():
                req.append('%s: %s' % (k, v))
            self.sock.sendall(('\r\n'.join(req) + '\r\n\r\n').encode('utf-8'))
            deadline = time.monotonic() + timeout
            while not self.parser.head_done:
                self._recv_some(deadline, 'the response head')
            if self.status != 200:
                while not self.parser.ended:
                    self._recv_some(deadline, 'the error body')
            elif wait_ok:
                self.wait_comment(deadline - time.monotonic())
        except BaseException:
            self.close()
            raise

    # response head
    @property
    def status(self):
        return self.parser.status

    @property
    def headers(self):
        return self.parser.headers

    def header(self, name, default=None):
        return self.parser.header(name, default)

    @property
    def body(self):
        return bytes(self.parser.body) if self.parser.body is not None else b''

    @property
    def comments(self):
        return len(self.parser.sse.comments)

    @property
    def comment_texts(self):
        return self.parser.sse.comments

    def _recv_some(self, deadline, what):
        """One recv into the parser. Raises Timeout at the deadline and
        Closed when the response has ended."""
        if self.parser.ended:
            raise Closed('stream ended (clean=%s) while waiting for %s' %
                         (self.parser.clean_end, what))
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout('timed out waiting for %s' % what)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise Timeout('timed out waiting for %s' % what)
        except ConnectionResetError:
            data = b''
        self.parser.feed(data)
        if data == b'' and not self.parser.ended:
            self.parser.feed(b'')

    def next_event(self, timeout=10.0):
        """The next dispatched event (dict: id, event, data, retry, ...).
        Raises Timeout or Closed."""
        deadline = time.monotonic() + timeout
        ev = self.parser.sse.events
        while not ev:
            self._recv_some(deadline, 'an event')
        return ev.popleft()

    def events(self, n, timeout=10.0):
        """The next n events (a list). Raises Timeout/Closed, with how many
        arrived in the message."""
        out = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < n:
                out.append(self.next_event(max(0.0, deadline - time.monotonic())))
        except (Timeout, Closed) as e:
            raise type(e)('%s (got %d of %d events)' % (e, len(out), n))
        return out

    def pending_events(self):
        """Events already parsed but not yet taken."""
        return len(self.parser.sse.events)

    def wait_comment(self, timeout=10.0, count=1):
        """Waits until at least count comments arrived (":ok" is the first)."""
        deadline = time.monotonic() + timeout
        while self.comments < count:
            self._recv_some(deadline, 'comment #%d' % count)

    def wait_closed(self, timeout=10.0):
        """Reads (keeping events) until the response ends. Returns True when
        it ended by its framing (terminating chunk), False on a bare EOF or
        reset. Raises Timeout."""
        deadline = time.monotonic() + timeout
        while not self.parser.ended:
            try:
                self._recv_some(deadline, 'the stream to end')
            except Closed:
                break
        return self.parser.clean_end

    def closed(self):
        """True when the response has ended; reads what is available now
        without blocking."""
        if not self.parser.ended and not self._closed:
            try:
                self.sock.setblocking(False)
                while not self.parser.ended:
                    try:
                        data = self.sock.recv(262144)
                    except (BlockingIOError, InterruptedError):
                        break
                    except ConnectionResetError:
                        data = b''
                    self.parser.feed(data)
                    if not data:
                        break
            finally:
                self.sock.setblocking(True)
        return self.parser.ended

    def close(self, reset=False):
        """Closes the socket. reset=True sends a TCP RST (SO_LINGER 0)."""
        if self._closed:
            return
        self._closed = True
        try:
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack('ii', 1, 0))
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the stack -----------------------------------------------------------

# The server around the hub: the hub's part is the operator's snippet,
# contrib/lighttpd/hubd.conf, with this stack's paths and limits put in
# (render_lighttpd_snippet), as contrib/quickstart runs it: the tests and
# the benchmark run the lighttpd settings that are shipped.
LIGHTTPD_CONF = r'''# generated by tests/integration/harness.py
server.document-root = "{docroot}"
server.bind = "{bind}"
server.port = {port}
server.errorlog = "{tmpdir}/lighttpd.error.log"
server.pid-file = "{tmpdir}/lighttpd.pid"
server.tag = "hubd-test"
# Worker processes (the quick start runs 2), each with its own max-fds.
server.max-worker = {workers}
mimetype.assign = ( ".html" => "text/html; charset=utf-8", ".js" => "text/javascript" )
index-file.names = ( "index.html" )
include "{snippet}"
'''


def render_lighttpd_snippet(hub_fcgi, fcgi_socket, hubd_socket, max_fds, max_conns,
                            max_procs, env):
    """contrib/lighttpd/hubd.conf with a stack's paths, limits and hub.fcgi
    processes put in, and env (name -> value) in hub.fcgi's environment:
    a variable the snippet sets takes the value given, others are added.
    Raises when the snippet no longer has a line this replaces."""
    with open(os.path.join(SRCDIR, 'contrib', 'lighttpd', 'hubd.conf')) as f:
        text = f.read()
    replaced = []

    def sub(pattern, repl):
        """Replaces pattern's one match by repl (text, or a function of the
        match)."""
        nonlocal text
        text, n = re.subn(pattern, repl if callable(repl) else lambda m: repl, text,
                          flags=re.M)
        replaced.append((pattern, n))

    sub(r'^server\.max-fds = .*$', 'server.max-fds = %d' % max_fds)
    sub(r'^server\.max-connections = .*$', 'server.max-connections = %d' % max_conns)
    sub(r'"/usr/local/libexec/hubd/hub\.fcgi"', '"%s"' % hub_fcgi)
    sub(r'"/run/lighttpd/hub\.fcgi\.sock"', '"%s"' % fcgi_socket)
    sub(r'"max-procs" => \d+', '"max-procs" => %d' % max_procs)
    env = dict(env, HUBD_SOCKET=hubd_socket)
    for name, value in env.items():
        line = '      "%s" => "%s",' % (name, value)
        pattern = r'^\s*"%s" => "[^"]*",?\s*$' % re.escape(name)
        if re.search(pattern, text, flags=re.M):
            sub(pattern, line)
        else:
            sub(r'^\s*"bin-environment" => \($', lambda m: m.group(0) + '\n' + line)
    missing = [p for p, n in replaced if n != 1]
    if missing:
        raise RuntimeError('contrib/lighttpd/hubd.conf: expected exactly one match for %s'
                           % ', '.join(missing))
    return text


def lighttpd_binary():
    env = os.environ.get('LIGHTTPD')
    if env:
        return env
    found = shutil.which('lighttpd')
    if found:
        return found
    for p in ('/usr/sbin/lighttpd', '/usr/local/sbin/lighttpd'):
        if os.path.exists(p):
            return p
    raise RuntimeError('lighttpd not found (apt-get install lighttpd)')


# Apache, for both Apache fronts: the server itself (mpm_event, worker
# limits, static files) ...
APACHE_BASE_CONF = r'''# generated by tests/integration/harness.py (front='{front}')
ServerRoot "{tmpdir}"
ServerName localhost
Listen {bind}:{port}
PidFile "{tmpdir}/apache.pid"
ErrorLog "{tmpdir}/apache.error.log"
LogLevel {log_level}
DefaultRuntimeDir "{tmpdir}"
LoadModule mpm_event_module {moddir}/mod_mpm_event.so
LoadModule authz_core_module {moddir}/mod_authz_core.so
LoadModule mime_module {moddir}/mod_mime.so
LoadModule dir_module {moddir}/mod_dir.so
LoadModule env_module {moddir}/mod_env.so
{user}
# One worker thread per open stream (mod_proxy_fcgi and mod_cgid hold their
# thread for as long as the response lasts), plus some for short requests.
ServerLimit {server_limit}
StartServers {server_limit}
ThreadLimit {threads}
ThreadsPerChild {threads}
MinSpareThreads 1
MaxSpareThreads {max_workers}
MaxRequestWorkers {max_workers}
MaxConnectionsPerChild 0
ListenBacklog 4096
# Above the heartbeat: bounds a write to the client (and a wait for the
# CGI); ProxyTimeout below does the same for hub.fcgi.
Timeout 360
KeepAlive On
TypesConfig "{tmpdir}/mime.types"
AddType "text/html; charset=utf-8" .html
AddType text/javascript .js
DocumentRoot "{docroot}"
DirectoryIndex index.html
<Directory "{docroot}">
  Require all granted
</Directory>
# Topics in /.well-known/mercure/subscriptions/TOPIC carry %2F.
AllowEncodedSlashes NoDecode
<Location "{hub_path}">
  CGIPassAuth On
  SetEnv no-gzip 1
{set_env}
  # A stream cut by hubd (killed) ends without its last chunk; on a
  # keep-alive connection Apache then holds it open for KeepAliveTimeout.
  <If "%{{REQUEST_METHOD}} == 'GET'">
    SetEnv nokeepalive 1
  </If>
</Location>
'''

# ... then how the hub's path reaches the handler: hub.fcgi as a FastCGI
# server on a Unix socket (front='apache') ...
APACHE_FCGI_CONF = r'''LoadModule proxy_module {moddir}/mod_proxy.so
LoadModule proxy_fcgi_module {moddir}/mod_proxy_fcgi.so
ProxyTimeout 360
ProxyPass "{hub_path}" "unix:{fcgi_sock}|fcgi://localhost{hub_path}" flushpackets=on
ProxyPass "{meta_path}" "unix:{fcgi_sock}|fcgi://localhost{meta_path}"
'''

# ... or hub.cgi run by mod_cgid (front='apache-cgi').
APACHE_CGI_CONF = r'''LoadModule alias_module {moddir}/mod_alias.so
LoadModule cgid_module {moddir}/mod_cgid.so
ScriptSock "{tmpdir}/cgid.sock"
ScriptAlias "{hub_path}" "{hub_cgi}"
ScriptAlias "{meta_path}" "{hub_cgi}"
<Location "{meta_path}">
{set_env}
</Location>
<Directory "{hub_cgi_dir}">
  Require all granted
</Directory>
'''

# ... or hub.fcgi spawned by mod_fcgid (front='apache-fcgid'): not a
# supported front; hub.fcgi must refuse it with a clear error.
APACHE_FCGID_CONF = r'''LoadModule alias_module {moddir}/mod_alias.so
LoadModule fcgid_module {moddir}/mod_fcgid.so
FcgidIPCDir "{tmpdir}/fcgid"
FcgidProcessTableFile "{tmpdir}/fcgid/shm"
FcgidIOTimeout 360
# Debian's default: SERVER_SOFTWARE does not name mod_fcgid, so hub.fcgi
# must tell from its parent process.
ServerTokens OS
{fcgid_env}
Alias "{hub_path}" "{hub_cgi}"
<Location "{hub_path}">
  SetHandler fcgid-script
  Options +ExecCGI
</Location>
<Directory "{hub_cgi_dir}">
  Require all granted
</Directory>
'''


LIGHTTPD_CGI_CONF = r"""# generated by tests/integration/harness.py (front='lighttpd-cgi')
server.document-root = "{docroot}"
server.bind = "{bind}"
server.port = {port}
server.errorlog = "{tmpdir}/lighttpd.error.log"
server.pid-file = "{tmpdir}/lighttpd.pid"
server.tag = "hubd-test"
server.modules += ( "mod_alias", "mod_setenv", "mod_cgi" )
# Push backpressure back to hubd instead of buffering in lighttpd.
server.stream-response-body = 2
server.max-fds = {max_fds}
server.max-connections = {max_conns}
server.max-write-idle = 360
mimetype.assign = ( ".html" => "text/html; charset=utf-8", ".js" => "text/javascript" )
index-file.names = ( "index.html" )
# The hub's path and everything below it runs hub.cgi (REQUEST_URI keeps
# the path as sent; hub.cgi routes by it).
alias.url = ( "{hub_path}" => "{hub_cgi}", "{meta_path}" => "{hub_cgi}" )
$HTTP["url"] =~ "^({hub_path_re}|{meta_path_re})(/|$)" {{
  cgi.assign = ( "" => "" )
  setenv.add-environment = ( {cgi_env} )
}}
"""


def apache_binary():
    env = os.environ.get('APACHE2')
    if env:
        return env
    for name in ('apache2', 'httpd'):
        found = shutil.which(name)
        if found:
            return found
    for p in ('/usr/sbin/apache2', '/usr/local/sbin/apache2', '/usr/sbin/httpd'):
        if os.path.exists(p):
            return p
    return None


def apache_modules_dir():
    return os.environ.get('APACHE_MODULES') or '/usr/lib/apache2/modules'


def nginx_binary():
    env = os.environ.get('NGINX')
    if env:
        return env
    found = shutil.which('nginx')
    if found:
        return found
    for p in ('/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'):
        if os.path.exists(p):
            return p
    return None


# nginx's configuration is the quickstart's template, filled in (see there),
# or another template with the same placeholders (HUBD_NGINX_TEMPLATE); it
# includes the operator's snippet (HUBD_NGINX_SNIPPET) with the test's
# paths put in, as contrib/quickstart does.
NGINX_TEMPLATE = (os.environ.get('HUBD_NGINX_TEMPLATE') or
                  os.path.join(SRCDIR, 'contrib', 'nginx', 'quickstart.conf'))
NGINX_SNIPPET = (os.environ.get('HUBD_NGINX_SNIPPET') or
                 os.path.join(SRCDIR, 'contrib', 'nginx', 'hubd.conf'))
NGINX_FASTCGI_PARAMS = '/etc/nginx/fastcgi_params'


FRONTS = ('lighttpd', 'apache', 'lighttpd-cgi', 'apache-cgi', 'apache-fcgid', 'nginx')

_live_stacks = set()


_live_redis = set()


def _stop_all_stacks():
    for s in list(_live_stacks):
        try:
            s.stop(check=False)
        except Exception:
            pass
    for r in list(_live_redis):
        try:
            r.close()
        except Exception:
            pass


atexit.register(_stop_all_stacks)


REDIS_SERVER = os.environ.get('REDIS_SERVER') or '/usr/bin/redis-server'


class RedisServer:
    """A private redis-server (Debian's) on a free loopback port, its files
    in a temporary directory: durable as hubd's SQLite --sync full by
    default (append-only file, appendfsync always, no RDB snapshots), or
    with no persistence at all (durable=False: a restart loses the log).
    Ready once it answers PING; stop() ends it by pid (SIGTERM: Redis's own
    shutdown, or SIGKILL: a crash) and start() brings it back on the same
    port and directory. command() sends one command and returns the reply.
    Also a context manager."""

    def __init__(self, durable=True):
        self.durable = durable
        self.proc = None
        self.port = None
        self.dir = None

    @staticmethod
    def installed():
        return os.access(REDIS_SERVER, os.X_OK)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def address(self):
        return '127.0.0.1:%d' % self.port

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        """Starts the server (the first time in a new directory, on a free
        port: another if that one was taken meanwhile); waits for PING."""
        if not self.installed():
            raise RuntimeError('%s is missing: apt-get install redis-server' % REDIS_SERVER)
        first = self.dir is None
        if first:
            self.dir = tempfile.mkdtemp(prefix='hubd-redis-')
        _live_redis.add(self)
        for _ in range(5 if first else 1):
            if first:
                self.port = free_port()
            if self._launch():
                return self
            if not first or 'Address already in use' not in self.log_tail():
                break
        raise RuntimeError('redis-server exited (%s): %s' % (self.proc.returncode,
                                                              self.log_tail()))

    def _launch(self):
        """Runs redis-server on self.port; True once it answers PING, False
        when it exits first."""
        persistence = (['--appendonly', 'yes', '--appendfsync', 'always'] if self.durable
                       else ['--appendonly', 'no'])
        argv = [REDIS_SERVER, '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
                '--dir', self.dir, '--daemonize', 'no', '--logfile', 'redis.log'] + persistence
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir)
        wait_for(lambda: self.proc.poll() is not None or self.ping(), scaled(15),
                 'redis-server to answer PING')
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Ends the server by pid and reaps it (SIGKILL after 10 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def close(self):
        self.stop()
        _live_redis.discard(self)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def ping(self):
        """True once the server answers PING (not while it is still
        loading its files: that answer is a LOADING error)."""
        try:
            return self.command('PING') == 'PONG'
        except (OSError, RuntimeError):
            return False

    def command(self, *args, timeout=5.0):
        """Sends one command (RESP) and returns the reply: str, int, None
        or a list; an error reply raises RuntimeError."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as c:
            out = b'*%d\r\n' % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b'$%d\r\n%s\r\n' % (len(a), a)
            c.sendall(out)
            return _resp_read(c.makefile('rb'))

    def log_tail(self, lines=20):
        try:
            with open(os.path.join(self.dir, 'redis.log'), errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except (OSError, TypeError):
            return ''

    def hubd_args(self, prefix='hubd'):
        """hubd's options for this server (store = redis)."""
        return ['--store', 'redis', '--redis', self.address, '--redis-prefix', prefix]


def _resp_read(f):
    line = f.readline()
    if not line.endswith(b'\r\n'):
        raise OSError('redis-server closed the connection')
    kind, rest = line[:1], line[1:-2]
    if kind == b'+':
        return rest.decode()
    if kind == b'-':
        raise RuntimeError(rest.decode())
    if kind == b':':
        return int(rest)
    if kind == b'$':
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode('utf-8', 'replace')
    if kind == b'*':
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise OSError('not a RESP reply: %r' % line)


class Stack:
    """hubd + lighttpd (+ hub.fcgi spawned by lighttpd) on free ports in a
    temporary directory. Use as a context manager or call start()/stop().
    front='apache': Apache + mod_proxy_fcgi instead, with hub.fcgi started
    by the stack (max_procs processes on one listening Unix socket);
    apache_workers sizes MaxRequestWorkers (one per open stream).
    front='nginx': nginx + its FastCGI module, hub.fcgi started the same
    way; one worker with worker_rlimit_nofile = max_fds and
    worker_connections = max_fds - 64 (two per open stream)."""

    def __init__(self, heartbeat=20, max_queue=None, jwt_key='test-key',
                 subscriber_key=DEFAULT, extra_hubd_args=(), max_fds=16384, bind='127.0.0.1',
                 max_body=None, fcgi_env=None, max_procs=2, valgrind=None,
                 check_exit=True, name=None, front='lighttpd', apache_workers=512,
                 lighttpd_workers=0, publish_listen=False):
        if front not in FRONTS:
            raise ValueError('front must be one of %s, not %r' % (', '.join(FRONTS), front))
        self.front = front
        # 'lighttpd-cgi' / 'apache-cgi': hub.cgi run per request by the
        # server's CGI module (mod_cgi / mod_cgid) instead of hub.fcgi.
        self.cgi = front.endswith('-cgi')
        self.apache_workers = apache_workers
        # lighttpd's server.max-worker (0: none, one process serves all).
        self.lighttpd_workers = lighttpd_workers
        # hubd's own HTTP endpoint for publishers (--publish-listen) on
        # publish_port: publish(direct=True) posts there.
        self.publish_listen = publish_listen
        self.publish_port = None
        self.apache = None
        self.nginx = None
        self.nginx_workers = []  # worker pids seen (see nginx_worker_pids)
        self.fcgi_procs = []
        self.heartbeat = heartbeat
        self.max_queue = max_queue
        self.jwt_key = jwt_key
        # The subscriber key: the publisher key unless given; None: none.
        self.subscriber_key = jwt_key if subscriber_key is DEFAULT else subscriber_key
        self.extra_hubd_args = list(extra_hubd_args)
        # lighttpd raises its own limit to max-fds and refuses to start when
        # it cannot: without root, the hard limit is the ceiling.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        # nginx, as root, would raise its worker's hard limit past the
        # machine's: keep it within ours too.
        if (os.geteuid() != 0 or front == 'nginx') and hard != resource.RLIM_INFINITY:
            max_fds = min(max_fds, hard)
        self.max_fds = max_fds
        self.bind = bind
        self.max_body = max_body
        self.fcgi_env = dict(fcgi_env or {})
        self.max_procs = max_procs
        self.valgrind = VALGRIND if valgrind is None else valgrind
        self.check_exit = check_exit
        self.name = name or 'stack'
        self.tmpdir = None
        self.port = None
        self.base_url = None
        self.socket_path = None
        self.db_path = None
        self.hubd = None
        self.lighttpd = None
        self.hubd_exits = []   # exit statuses of every hubd this stack ran
        self.fcgi_pids = []
        self._hubd_log = None
        self._hubd_stopped_by_us = False
        self._started = False

    # -- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        failing = exc_type is not None
        if failing:
            self.dump_logs()
        self.stop(check=not failing)
        return False

    @property
    def hubd_pid(self):
        return self.hubd.pid if self.hubd else None

    @property
    def lighttpd_pid(self):
        return self.lighttpd.pid if self.lighttpd else None

    def lighttpd_pids(self):
        """lighttpd's processes: the main one and its workers
        (server.max-worker), without the hub.fcgi it spawned."""
        if not self.lighttpd:
            return []
        return [self.lighttpd.pid] + [p for p in child_pids(self.lighttpd.pid)
                                      if process_name(p) == 'lighttpd']

    @property
    def apache_pid(self):
        return self.apache.pid if self.apache else None

    @property
    def nginx_pid(self):
        """nginx's master process (it only manages; the worker serves)."""
        return self.nginx.pid if self.nginx else None

    @property
    def front_pid(self):
        if self.front == 'nginx':
            return self.nginx_pid
        return self.apache_pid if self.front.startswith('apache') else self.lighttpd_pid

    def nginx_worker_pids(self):
        """The pids of nginx's worker processes (the master's children):
        the ones that hold the connections, for CPU and memory figures."""
        if self.nginx is None or self.nginx.poll() is not None:
            return []
        pids = [p for p in child_pids(self.nginx.pid) if pid_alive(p)]
        self.nginx_workers = sorted(set(self.nginx_workers) | set(pids))
        return pids

    def front_worker_pids(self):
        """The processes of the front that serve connections: nginx's
        workers, Apache's children, or lighttpd itself."""
        if self.front == 'nginx':
            return self.nginx_worker_pids()
        if self.front.startswith('apache'):
            return child_pids(self.apache_pid) if self.apache_pid else []
        return [self.lighttpd_pid] if self.lighttpd_pid else []

    @property
    def host(self):
        return self.bind if self.bind not in ('0.0.0.0', '::') else (
            '::1' if self.bind == '::' else '127.0.0.1')

    def start(self):
        for p in ('hubd/hubd', 'fcgi/hub.cgi' if self.cgi else 'fcgi/hub.fcgi',
                  'hubctl/hubctl'):
            if not os.access(program(p), os.X_OK):
                raise RuntimeError('%s is not built (HUBD_BUILDDIR=%s)' % (p, BUILDDIR))
        self.tmpdir = tempfile.mkdtemp(prefix='hubd-it-')
        self.socket_path = os.path.join(self.tmpdir, 'hubd.sock')
        self.db_path = os.path.join(self.tmpdir, 'hubd.db')
        if self.publish_listen:
            self.publish_port = free_port()
        self.docroot = os.path.join(self.tmpdir, 'www')
        os.mkdir(self.docroot)
        with open(os.path.join(self.docroot, 'index.html'), 'w') as f:
            f.write('<!doctype html><title>hubd test</title>\n')
        _live_stacks.add(self)
        self._started = True
        try:
            self.start_hubd()
            if self.front == 'apache':
                self._start_apache()
            elif self.front == 'apache-cgi':
                self._start_apache(cgi=True)
            elif self.front == 'apache-fcgid':
                self._start_apache(fcgid=True)
            elif self.front == 'lighttpd-cgi':
                self._start_lighttpd(cgi=True)
            elif self.front == 'nginx':
                self._start_nginx()
            else:
                self._start_lighttpd()
        except BaseException:
            self.dump_logs()
            self.stop(check=False)
            raise
        return self

    def hubd_argv(self):
        argv = [program('hubd/hubd'),
                '--socket', self.socket_path,
                '--db', self.db_path,
                '--heartbeat', str(self.heartbeat),
                '--publisher-key', self.jwt_key,
                '--log-level', os.environ.get('HUBD_LOG_LEVEL', 'info')]
        if self.subscriber_key:
            argv += ['--subscriber-key', self.subscriber_key]
        if self.max_queue is not None:
            argv += ['--max-queue', str(self.max_queue)]
        if self.publish_port:
            argv += ['--publish-listen', '127.0.0.1:%d' % self.publish_port]
        if self.front in ('apache-cgi', 'apache-fcgid') and os.geteuid() == 0:
            # hub.cgi runs as Apache's User, not as root: let it connect.
            argv += ['--socket-mode', '0666']
        argv += self.extra_hubd_args
        if self.valgrind:
            argv = ['valgrind', '--quiet', '--error-exitcode=99',
                    '--leak-check=full', '--errors-for-leak-kinds=definite',
                    '--show-leak-kinds=definite', '--num-callers=30'] + argv
        return argv

    def start_hubd(self, wait=True):
        """Starts hubd (again) with this stack's settings and database; waits
        until its control socket accepts connections."""
        if self.hubd is not None and self.hubd.poll() is None:
            raise RuntimeError('hubd is already running')
        self._hubd_stopped_by_us = False
        self._hubd_log = open(os.path.join(self.tmpdir, 'hubd.log'), 'ab')
        env = dict(os.environ)
        env.setdefault('ASAN_OPTIONS', 'abort_on_error=0:detect_leaks=1')
        self.hubd = subprocess.Popen(self.hubd_argv(), stdin=subprocess.DEVNULL,
                                     stdout=self._hubd_log, stderr=self._hubd_log,
                                     env=env)
        self._hubd_log.close()
        if wait:
            self.wait_hubd_ready()
        return self.hubd.pid

    def wait_hubd_ready(self, timeout=None):
        timeout = timeout or scaled(15)
        proc = self.hubd

        def ready():
            if proc.poll() is not None:
                raise RuntimeError('hubd exited with status %s during start-up:\n%s'
                                   % (proc.returncode, self.log_tail('hubd.log')))
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
                    c.connect(self.socket_path)
                if self.publish_port:
                    socket.create_connection(('127.0.0.1', self.publish_port), 1).close()
                return True
            except OSError:
                return False
        wait_for(ready, timeout, 'hubd to accept on %s' % self.socket_path)

    def kill_hubd(self, sig=signal.SIGTERM, timeout=None):
        """Sends sig to hubd and waits for it to exit. Returns the exit
        status (negative: killed by a signal). Raises Timeout if it does not
        exit in time (hubd is then SIGKILLed)."""
        proc = self.hubd
        if proc is None or proc.poll() is not None:
            raise RuntimeError('hubd is not running')
        timeout = timeout or scaled(15)
        self._hubd_stopped_by_us = True
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            self.hubd_exits.append(('timeout', sig))
            raise Timeout('hubd did not exit within %.0fs of signal %s' % (timeout, sig))
        self.hubd_exits.append((proc.returncode, sig))
        return proc.returncode

    def serve_demo(self, topic, token=None):
        """Serves the demo page (contrib/demo/index.html) at / with the
        config.js that contrib/quickstart writes: the hub's path, the topic
        and a token (default: publish and subscribe '*', as the quickstart's).
        Returns the page's URL."""
        if token is None:
            token = self.token(publish=['*'], subscribe=['*'])
        shutil.copyfile(os.path.join(SRCDIR, 'contrib', 'demo', 'index.html'),
                        os.path.join(self.docroot, 'index.html'))
        config = {'hub': HUB_PATH, 'topic': topic, 'token': token}
        with open(os.path.join(self.docroot, 'config.js'), 'w') as f:
            f.write('// generated by tests/integration/harness.py, as contrib/quickstart does\n'
                    'window.HUBD_CONFIG = %s;\n' % json.dumps(config, indent=2))
        return self.base_url + '/'

    def _start_lighttpd(self, cgi=False):
        env = self._fcgi_env()
        bin_env = ', '.join('"%s" => "%s"' % (k, v) for k, v in env.items())
        max_conns = max(16, self.max_fds // 2 - 16)
        snippet = os.path.join(self.tmpdir, 'lighttpd-hubd.conf')
        if not cgi:
            with open(snippet, 'w') as f:
                f.write(render_lighttpd_snippet(
                    program('fcgi/hub.fcgi'), os.path.join(self.tmpdir, 'hub.fcgi.sock'),
                    self.socket_path, self.max_fds, max_conns, self.max_procs,
                    {k: v for k, v in env.items() if k != 'HUBD_SOCKET'}))

        def write_conf(bind):
            conf = (LIGHTTPD_CGI_CONF if cgi else LIGHTTPD_CONF).format(
                docroot=self.docroot, bind=bind, port=self.port, tmpdir=self.tmpdir,
                max_fds=self.max_fds, max_conns=max_conns, snippet=snippet,
                hub_path=HUB_PATH, hub_path_re=HUB_PATH.replace('.', '\\.'),
                meta_path=METADATA_PATH, meta_path_re=METADATA_PATH.replace('.', '\\.'),
                hub_cgi=program('fcgi/hub.cgi'), cgi_env=bin_env,
                workers=self.lighttpd_workers)
            self.lighttpd_conf = os.path.join(self.tmpdir, 'lighttpd.conf')
            with open(self.lighttpd_conf, 'w') as f:
                f.write(conf)
            return [lighttpd_binary(), '-D', '-f', self.lighttpd_conf]
        # Its own session: with server.max-worker, lighttpd signals its
        # workers with kill(0, ...), which would reach this process too.
        self.lighttpd = proc = self._launch_front('lighttpd', write_conf, new_session=True)
        if not cgi:
            # lighttpd spawns hub.fcgi at start-up (hub.cgi runs per request);
            # remember the pids so stop() can make sure they are gone.
            self.fcgi_pids = wait_for(lambda: child_pids(proc.pid), scaled(5),
                                      'lighttpd to spawn hub.fcgi')

    def _launch_front(self, name, write_conf, env=None, new_session=False, ready=None,
                      busy=('Address already in use',)):
        """Starts the web server name on a free port: write_conf(bind) writes
        its configuration for self.port and returns its command line; waits
        until it listens (and ready(proc), if given, holds), then sets
        base_url.
        Another port is tried when the port was taken meanwhile (a log line
        in busy); otherwise raises with the ends of name.out and
        name.error.log. Returns the process."""
        last_err = None
        for attempt in range(5):
            self.port = free_port(self.bind if self.bind not in ('0.0.0.0', '::') else '127.0.0.1')
            bind = '[%s]' % self.bind if ':' in self.bind else self.bind
            argv = write_conf(bind)
            with open(os.path.join(self.tmpdir, name + '.out'), 'ab') as log:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        env=env, start_new_session=new_session)

            def listening():
                if proc.poll() is not None:
                    return 'exited'
                if ready is not None and not ready(proc):
                    return None
                try:
                    with socket.create_connection((self.host, self.port), timeout=1):
                        return 'ok'
                except OSError:
                    return None
            try:
                r = wait_for(listening, scaled(15), '%s to listen on port %d' % (name, self.port))
            except Timeout:
                stop_process(proc, scaled(10))
                raise
            if r == 'ok':
                self.base_url = 'http://%s:%d' % (
                    self.host if ':' not in self.host else '[%s]' % self.host, self.port)
                return proc
            last_err = ('%s exited with status %s:\n%s\n%s' %
                        (name, proc.returncode, self.log_tail(name + '.out'),
                         self.log_tail(name + '.error.log')))
            if not any(b in last_err for b in busy):
                break
        raise RuntimeError(last_err)

    def _fcgi_env(self):
        env = {'HUBD_SOCKET': self.socket_path}
        if self.max_body is not None:
            env['HUBD_MAX_BODY'] = str(self.max_body)
        env.update(self.fcgi_env)
        return env

    def _start_fcgi_server(self):
        """Binds hub.fcgi's listening socket and starts max_procs hub.fcgi
        processes on it (stdin = the listening socket: libfcgi then acts as
        a FastCGI server). Apache connects to it; it never spawns them."""
        self.fcgi_socket_path = os.path.join(self.tmpdir, 'hub.fcgi.sock')
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lsock.bind(self.fcgi_socket_path)
            # Apache's children run as another user when started as root.
            os.chmod(self.fcgi_socket_path, 0o666)
            lsock.listen(4096)
            env = dict(os.environ)
            env.update(self._fcgi_env())
            log = open(os.path.join(self.tmpdir, 'hub.fcgi.log'), 'ab')
            try:
                for _ in range(max(1, self.max_procs)):
                    self.fcgi_procs.append(subprocess.Popen(
                        [program('fcgi/hub.fcgi')], stdin=lsock.fileno(),
                        stdout=log, stderr=log, env=env, close_fds=True))
            finally:
                log.close()
        finally:
            lsock.close()
        self.fcgi_pids = [p.pid for p in self.fcgi_procs]

    def _start_apache(self, cgi=False, fcgid=False):
        binary = apache_binary()
        if binary is None:
            raise RuntimeError('apache2 not found (apt-get install apache2)')
        user = ''
        if os.geteuid() == 0:
            # Apache will not serve as root: its children switch to User, who
            # must reach the docroot and hub.fcgi's socket.
            import pwd
            for name in ('www-data', 'nobody'):
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    continue
                user = 'User #%d\nGroup #%d' % (pw.pw_uid, pw.pw_gid)
                break
            os.chmod(self.tmpdir, 0o711)
            os.chmod(self.docroot, 0o755)
        with open(os.path.join(self.tmpdir, 'mime.types'), 'w') as f:
            f.write('# empty: AddType in apache.conf\n')
        if cgi or fcgid:
            # Apache runs hub.cgi (mod_fcgid: hub.fcgi) as User, who may not
            # reach the build tree (a checkout under a 0700 directory): it
            # gets its own copy.
            cgi_dir = os.path.join(self.tmpdir, 'cgi-bin')
            os.mkdir(cgi_dir, 0o755)
            name = 'hub.fcgi' if fcgid else 'hub.cgi'
            hub_cgi = os.path.join(cgi_dir, name)
            shutil.copy2(program('fcgi/' + name), hub_cgi)
            os.chmod(hub_cgi, 0o755)
            if fcgid:
                os.mkdir(os.path.join(self.tmpdir, 'fcgid'), 0o777)
                os.chmod(os.path.join(self.tmpdir, 'fcgid'), 0o777)
        else:
            self._start_fcgi_server()
            hub_cgi = ''
        threads = min(64, max(8, self.apache_workers))
        server_limit = max(1, -(-self.apache_workers // threads))

        def write_conf(bind):
            # hub.fcgi gets its environment from the harness; hub.cgi from Apache.
            set_env = '\n'.join('  SetEnv %s "%s"' % (k, v)
                                 for k, v in self._fcgi_env().items()) if cgi else ''
            fcgid_env = '\n'.join('FcgidInitialEnv %s "%s"' % (k, v)
                                   for k, v in self._fcgi_env().items())
            part = APACHE_FCGID_CONF if fcgid else APACHE_CGI_CONF if cgi else APACHE_FCGI_CONF
            conf = (APACHE_BASE_CONF + part).format(
                front=self.front,
                tmpdir=self.tmpdir, bind=bind, port=self.port, docroot=self.docroot,
                moddir=apache_modules_dir(), user=user, threads=threads,
                server_limit=server_limit, max_workers=threads * server_limit,
                hub_path=HUB_PATH, meta_path=METADATA_PATH,
                fcgi_sock=getattr(self, 'fcgi_socket_path', ''),
                hub_cgi=hub_cgi, hub_cgi_dir=os.path.dirname(hub_cgi), set_env=set_env,
                fcgid_env=fcgid_env,
                log_level=os.environ.get('HUBD_APACHE_LOG_LEVEL', 'warn'))
            self.apache_conf = os.path.join(self.tmpdir, 'apache.conf')
            with open(self.apache_conf, 'w') as f:
                f.write(conf)
            return [binary, '-f', self.apache_conf, '-DFOREGROUND']
        env = dict(os.environ)
        for k in ('APACHE_RUN_DIR', 'APACHE_LOCK_DIR', 'APACHE_LOG_DIR'):
            env.setdefault(k, self.tmpdir)
        self.apache = self._launch_front('apache', write_conf, env=env,
                                         busy=('Address already in use', 'make_sock'))

    def _start_nginx(self):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError('nginx not found (apt-get install nginx)')
        if os.geteuid() == 0:
            # The master runs as root, its worker as nobody (nginx's default
            # user): it must reach the docroot and hub.fcgi's socket (0666).
            os.chmod(self.tmpdir, 0o711)
            os.chmod(self.docroot, 0o755)
        self._start_fcgi_server()
        with open(NGINX_TEMPLATE) as f:
            template = f.read()
        # The snippet's paths are the installed ones: hub.fcgi's socket and
        # fastcgi_params relative to /etc/nginx.
        with open(NGINX_SNIPPET) as f:
            snippet = f.read()
        snippet = snippet.replace('/run/hubd/hub.fcgi.sock', self.fcgi_socket_path).replace(
            'include fastcgi_params;', 'include %s;' % NGINX_FASTCGI_PARAMS)
        hub_conf = os.path.join(self.tmpdir, 'hub.conf')
        with open(hub_conf, 'w') as f:
            f.write(snippet)
        def write_conf(bind):
            values = {'STATE_DIR': self.tmpdir, 'DOCROOT': self.docroot, 'BIND': bind,
                      'PORT': str(self.port), 'HUB_CONF': hub_conf,
                      'MAX_FDS': str(self.max_fds),
                      # client + upstream: two connections per stream
                      'MAX_CONNS': str(max(64, self.max_fds - 64))}
            conf = template
            for k, v in values.items():
                conf = conf.replace('@%s@' % k, v)
            left = re.findall(r'@[A-Z_]+@', conf)
            if left:
                raise RuntimeError('%s: placeholders left unfilled: %s' % (NGINX_TEMPLATE, left))
            self.nginx_conf = os.path.join(self.tmpdir, 'nginx.conf')
            with open(self.nginx_conf, 'w') as f:
                f.write('# generated by tests/integration/harness.py from %s\n' % NGINX_TEMPLATE)
                f.write(conf)
            # -e: the error log from the very start (the compiled-in one is
            # stderr here, /var/log/nginx/error.log on other builds).
            return [binary, '-p', self.tmpdir + '/', '-e',
                    os.path.join(self.tmpdir, 'nginx.error.log'),
                    '-c', self.nginx_conf, '-g', 'daemon off; master_process on;']
        self.nginx = self._launch_front('nginx', write_conf,
                                        ready=lambda proc: child_pids(proc.pid))
        self.nginx_worker_pids()  # remembers the workers for stop()

    def _stop_nginx(self, problems):
        """SIGTERM to the master (fast shutdown: it closes every connection
        and waits for its workers), then makes sure no worker survives."""
        if self.nginx.poll() is not None:
            problems.append('nginx died on its own (status %s)' % self.nginx.returncode)
        workers = set(self.nginx_workers) | set(self.nginx_worker_pids())
        st, killed = stop_nginx(self.nginx, workers, scaled(15), scaled(5))
        if st not in (0, None):
            problems.append('nginx master exited with status %s on SIGTERM' % st)
        problems += ['nginx worker %d outlived its master' % pid for pid in killed]

    def stop(self, check=True):
        """Stops hubd (SIGTERM) and lighttpd (SIGTERM) by pid, SIGKILL after a
        deadline, then hub.fcgi leftovers. With check, raises when hubd did
        not exit with status 0 (under valgrind: 99 = memory errors)."""
        if not self._started:
            return
        self._started = False
        problems = []
        try:
            if self.hubd is not None and self.hubd.poll() is None:
                st = stop_process(self.hubd, scaled(15))
                self.hubd_exits.append((st, signal.SIGTERM))
                if st != 0:
                    problems.append('hubd exited with status %s on SIGTERM' % st)
            elif self.hubd is not None and not self._hubd_stopped_by_us:
                problems.append('hubd died on its own (status %s)' % self.hubd.returncode)
            if self.lighttpd is not None:
                if self.lighttpd.poll() is not None:
                    problems.append('lighttpd died on its own (status %s)'
                                    % self.lighttpd.returncode)
                fcgi = set(self.fcgi_pids) | set(child_pids(self.lighttpd.pid))
                stop_process(self.lighttpd, scaled(10))
                for pid in fcgi:
                    if pid_alive(pid):
                        try:
                            os.kill(pid, signal.SIGTERM)
                        except ProcessLookupError:
                            pass
                for pid in fcgi:
                    deadline = time.monotonic() + 5
                    while pid_alive(pid) and time.monotonic() < deadline:
                        time.sleep(0.02)
                    if pid_alive(pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            if self.apache is not None:
                if self.apache.poll() is not None:
                    problems.append('apache died on its own (status %s)'
                                    % self.apache.returncode)
                # SIGTERM to the main process: it stops its children.
                stop_process(self.apache, scaled(15))
            if self.nginx is not None:
                self._stop_nginx(problems)
            for p in self.fcgi_procs:
                if p.poll() is not None:
                    problems.append('hub.fcgi %d died on its own (status %s)'
                                    % (p.pid, p.returncode))
                stop_process(p, scaled(5))
        finally:
            _live_stacks.discard(self)
            if problems and check and self.check_exit:
                self.dump_logs()
                self._cleanup_tmp(keep=True)
                raise AssertionError('; '.join(problems))
            if problems:
                # Not raised (the test failed already, or does not check):
                # still say it, it may be why the test failed.
                print('# %s: %s' % (self.name, '; '.join(problems)))
            self._cleanup_tmp(keep=bool(problems))

    def _cleanup_tmp(self, keep=False):
        if self.tmpdir is None:
            return
        if keep or os.environ.get('HUBD_KEEP_TMP'):
            print('# kept %s' % self.tmpdir)
        else:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def log_tail(self, name, lines=40):
        path = os.path.join(self.tmpdir or '', name)
        try:
            with open(path, 'rb') as f:
                data = f.read().decode('utf-8', 'replace').splitlines()
        except OSError:
            return '(no %s)' % name
        return '\n'.join(data[-lines:])

    def dump_logs(self, lines=40):
        for name in ('hubd.log', 'lighttpd.error.log', 'lighttpd.out',
                     'apache.error.log', 'apache.out', 'nginx.error.log', 'nginx.out',
                     'hub.fcgi.log'):
            tail = self.log_tail(name, lines)
            if tail and not tail.startswith('(no'):
                print('# ---- %s: last lines of %s ----' % (self.name, name))
                for ln in tail.splitlines():
                    print('# ' + ln)

    # -- JWT
    def token(self, publish=DEFAULT, subscribe=None, exp=None, key=None, alg='HS256',
              claims=None):
        """An HS256 JWT made in Python. publish: list of topic selectors
        (default ['*']; None leaves the claim out); subscribe likewise
        (default: left out); exp: seconds from now (negative = expired),
        None = no exp; key: default the stack's publisher key; alg 'none'
        makes an unsigned token."""
        if publish is DEFAULT:
            publish = ['*']
        mercure = {}
        if publish is not None:
            mercure['publish'] = list(publish)
        if subscribe is not None:
            mercure['subscribe'] = list(subscribe)
        body = {'mercure': mercure}
        if exp is not None:
            body['exp'] = int(time.time()) + int(exp)
        if claims:
            body.update(claims)
        return make_jwt(body, self.jwt_key if key is None else key, alg)

    # -- HTTP
    def request(self, method, target, body=None, headers=None, timeout=30.0, port=None):
        """One HTTP request on a fresh connection, to the front (or to port
        on 127.0.0.1). Returns (status, headers (http.client.HTTPMessage,
        case-insensitive), body str)."""
        host = self.host if port is None else '127.0.0.1'
        conn = http.client.HTTPConnection(host, port or self.port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode('utf-8')
            conn.request(method, target, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, r.headers, data.decode('utf-8', 'replace')
        finally:
            conn.close()

    @staticmethod
    def publish_body(topics, data='', id=None, type=None, retry=None, private=False,
                     extra_fields=None):
        if isinstance(topics, str):
            topics = [topics]
        fields = [('topic', t) for t in topics]
        if data is not None:
            fields.append(('data', data))
        if id is not None:
            fields.append(('id', id))
        if type is not None:
            fields.append(('type', type))
        if retry is not None:
            fields.append(('retry', str(retry)))
        if private:
            fields.append(('private', 'on'))
        if extra_fields:
            items = extra_fields.items() if isinstance(extra_fields, dict) else extra_fields
            fields.extend(items)
        return urllib.parse.urlencode(fields)

    def publish(self, topics, data='', id=None, type=None, retry=None, private=False,
                token=DEFAULT, extra_fields=None, headers=None, timeout=30.0, direct=False):
        """POSTs an update. token: DEFAULT = a valid publish-everything JWT,
        None = no Authorization header, else the JWT to send; direct: to
        hubd's publish listener instead of the front. Returns (status,
        headers, body)."""
        body = self.publish_body(topics, data, id, type, retry, private, extra_fields)
        h = {'Content-Type': 'application/x-www-form-urlencoded'}
        if token is DEFAULT:
            token = self.token()
        if token is not None:
            h['Authorization'] = 'Bearer ' + token
        h.update(headers or {})
        return self.request('POST', HUB_PATH, body, h, timeout,
                            port=self.publish_port if direct else None)

    def publish_ok(self, topics, data='', **kw):
        """Publishes and asserts 200; returns the update's id."""
        st, h, body = self.publish(topics, data, **kw)
        if st != 200:
            raise AssertionError('publish answered %s: %r' % (st, body))
        return body

    @staticmethod
    def topic_query(topics, **extra):
        if isinstance(topics, str):
            topics = [topics]
        q = [('topic', t) for t in topics]
        q += [(k, str(v)) for k, v in extra.items() if v is not None]
        return urllib.parse.urlencode(q)

    def history(self, topics, after=None, limit=None, headers=None):
        """GET .../history. Returns (status, headers, parsed JSON or the body
        text when it is not JSON)."""
        target = HUB_PATH + '/history?' + self.topic_query(topics, after=after, limit=limit)
        return self.history_url(target, headers)

    def history_url(self, target, headers=None):
        st, h, body = self.request('GET', target, headers=headers)
        try:
            return st, h, json.loads(body)
        except ValueError:
            return st, h, body

    def subscribe_target(self, topics, query_last_event_id=None, extra_query=None):
        q = self.topic_query(topics, lastEventID=query_last_event_id)
        if extra_query:
            q += '&' + extra_query
        return HUB_PATH + '?' + q

    def subscribe(self, topics, last_event_id=None, query_last_event_id=None,
                  timeout=10.0, headers=None, rcvbuf=None, wait_ok=True, target=None,
                  keep_body=True):
        """Opens an event stream. With wait_ok (default) returns once the
        opening ":ok" comment arrived. Returns an SSEClient (check .status)."""
        h = dict(headers or {})
        if last_event_id is not None:
            h['Last-Event-ID'] = last_event_id
        if target is None:
            target = self.subscribe_target(topics, query_last_event_id)
        return SSEClient(self.host, self.port, target, h, scaled(timeout),
                         rcvbuf=rcvbuf, wait_ok=wait_ok, keep_body=keep_body)

    # -- hubctl
    def hubctl(self, *args, timeout=30.0, socket_path=None):
        """Runs hubctl -s SOCKET ARGS...; returns the CompletedProcess (text)."""
        argv = [program('hubctl/hubctl'), '-s', socket_path or self.socket_path]
        argv += [str(a) for a in args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=scaled(timeout))

    def stats(self):
        """hubctl stats as a dict."""
        r = self.hubctl('stats')
        if r.returncode != 0:
            raise AssertionError('hubctl stats: exit %d: %s' % (r.returncode, r.stderr))
        return json.loads(r.stdout)

    def ctl_connect(self):
        """A raw SOCK_SEQPACKET connection to hubd's control socket."""
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c.connect(self.socket_path)
        return c

    def check_pubsub(self, topic='urn:hubd:check', timeout=10.0):
        """Proves the stack still works: subscribe, publish, receive."""
        with self.subscribe(topic) as sub:
            assert sub.status == 200, 'subscribe answered %s' % sub.status
            data = 'check %f' % time.time()
            uid = self.publish_ok(topic, data)
            ev = sub.next_event(scaled(timeout))
            assert ev['id'] == uid and ev['data'] == data, ev


# ---- control protocol (see hubd/ctl_proto.h) ---------------------------------

CTL_VERSION = 2   # hubd/ctl_proto.h CTL_PROTOCOL_VERSION
CTL_SUBSCRIBE, CTL_PUBLISH, CTL_HISTORY, CTL_STATS, CTL_PREFLIGHT = 1, 2, 3, 4, 5
CTL_OK, CTL_ERROR = 0x100, 0x101
CTL_F_MORE = 1
T_TOPIC, T_DATA, T_ID, T_TYPE, T_RETRY, T_PRIVATE, T_LAST_EVENT_ID = 1, 2, 3, 4, 5, 6, 7
T_MODE, T_FCGI_REQUEST_ID, T_AUTH, T_LIMIT, T_AFTER, T_STATUS, T_MESSAGE = 8, 9, 10, 11, 12, 13, 14
T_BODY, T_NEXT, T_HTTP, T_ORIGIN, T_AUTH_SOURCE, T_HEADERS = 15, 16, 17, 18, 19, 20
T_STREAM_OPTS = 22
T_CLIENT_ADDR = 23
CTL_MODE_FCGI, CTL_MODE_CGI = 1, 2
CTL_HEADER = struct.Struct('=HHIII')   # version, type, flags, request, length
CTL_FIELD = struct.Struct('=HHI')      # tag, reserved, len


def ctl_field(tag, value):
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = struct.pack('=I', value)
    return CTL_FIELD.pack(tag, 0, len(value)) + value


def ctl_datagram(mtype, payload=b'', request=1, flags=0, version=CTL_VERSION, length=None):
    return CTL_HEADER.pack(version, mtype, flags, request,
                           len(payload) if length is None else length) + payload


def ctl_parse(datagram):
    """(type, request, flags, [(tag, bytes)]) of one received datagram."""
    version, mtype, flags, request, length = CTL_HEADER.unpack_from(datagram)
    payload = datagram[CTL_HEADER.size:CTL_HEADER.size + length]
    fields = []
    off = 0
    while off + CTL_FIELD.size <= len(payload):
        tag, _, ln = CTL_FIELD.unpack_from(payload, off)
        off += CTL_FIELD.size
        fields.append((tag, payload[off:off + ln]))
        off += ln
    return mtype, request, flags, fields


def ctl_recv(sock, timeout=5.0):
    """Receives one datagram: returns bytes, or b'' when the peer closed.
    Raises Timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536 + 16)
    except socket.timeout:
        raise Timeout('no datagram from hubd within %.1fs' % timeout)
    except ConnectionResetError:
        return b''


def ctl_send_fd(sock, datagram, fd):
    sock.sendmsg([datagram], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('i', fd))])


# ---- running tests -----------------------------------------------------------

def run_tests(namespace, argv=None):
    """Runs every function named test_* in namespace (definition order; the
    command-line arguments select a subset by name), prints "ok - NAME" or
    "not ok - NAME" with the traceback, then "N passed, N failed", and
    exits 0 only when all passed."""
    argv = sys.argv[1:] if argv is None else argv
    tests = [(n, f) for n, f in namespace.items() if n.startswith('test_') and callable(f)]
    if argv:
        tests = [(n, f) for n, f in tests if n in argv]
    print('# hubd integration: %s (builddir %s%s)' % (
        os.path.basename(namespace.get('__file__', '?')), BUILDDIR,
        ', valgrind' if VALGRIND else ''))
    sys.stdout.flush()
    passed = failed = 0
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            failed += 1
            print('not ok - %s (%.1fs)' % (name, time.monotonic() - t0))
            for ln in traceback.format_exc().rstrip().splitlines():
                print('#   ' + ln)
        else:
            passed += 1
            print('ok - %s (%.1fs)' % (name, time.monotonic() - t0))
        sys.stdout.flush()
    _stop_all_stacks()
    print('%d passed, %d failed' % (passed, failed))
    sys.stdout.flush()
    sys.exit(0 if failed == 0 else 1)


def expect(cond, msg, *args):
    """assert that survives python -O, with a formatted message."""
    if not cond:
        raise AssertionError(msg % args if args else msg)


def expect_eq(got, want, what='value'):
    if got != want:
        g, w = repr(got), repr(want)
        if len(g) > 300:
            g = g[:300] + '...(%d chars)' % len(g)
        if len(w) > 300:
            w = w[:300] + '...(%d chars)' % len(w)
        raise AssertionError('%s: got %s, want %s' % (what, g, w))


class Publisher(threading.Thread):
    """Publishes count updates to topics one after another (each waits for
    its answer), recording acknowledged ids in order. Stops early on an
    error when stop_on_error (and keeps the statuses seen)."""

    def __init__(self, stack, topics, count, prefix='p', stop_on_error=True, delay=0.0):
        super().__init__(daemon=True)
        self.stack, self.topics, self.count = stack, topics, count
        self.prefix, self.stop_on_error, self.delay = prefix, stop_on_error, delay
        self.acked = []       # (id, data)
        self.errors = []      # (i, status or exception text)
        self.stop_flag = threading.Event()

    def run(self):
        tok = self.stack.token()
        for i in range(self.count):
            if self.stop_flag.is_set():
                break
            data = '%s-%d' % (self.prefix, i)
            try:
                st, _, body = self.stack.publish(self.topics, data, token=tok, timeout=scaled(30))
            except Exception as e:
                st, body = 'exc', repr(e)
            if st == 200:
                self.acked.append((body, data))
            else:
                self.errors.append((i, st, body))
                if self.stop_on_error:
                    break
            if self.delay:
                time.sleep(self.delay)
