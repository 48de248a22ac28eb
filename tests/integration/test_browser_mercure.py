#!/usr/bin/env python3
"""test_browser_mercure.py -- Mercure compatibility as a browser sees it:
Debian's chromium (driven by tests/browser/driver.mjs, as test_browser.py
does) subscribes with its own EventSource and publishes with its own fetch,
from a page served by lighttpd on the hub's own origin, and cross-origin
from pages of two other origins (small static servers on other loopback
ports: a different port is a different origin), one listed in hubd's
--cors-origins and one not.

Checks: a raw-string topic; an update with several topics reaches a
subscriber of its second topic; a subscriber with several selectors gets
updates for each (once when several match); a URI topic; a URI template
selector; non-matching raw strings, URIs and template topics are not
received (a later matching marker proves delivery works, then 2 s pass);
a private update is not received anonymously, and is received with a
subscriber token in the mercureAuthorization cookie or the authorization
query parameter; a publisher-chosen id is the fetch's response body and the
event's lastEventId; data holding empty lines arrives intact in event.data;
from a listed origin a credentialed EventSource receives updates (a private
one thanks to the cookie) and a fetch publish can read the id; from an
origin not listed the browser refuses both.

One hub stack, one browser and the two origin servers are shared by every
check; each check opens a fresh page (no cookies, no streams) and uses its
own topics. Needs what test_browser.py needs (skipped without it, exit 77,
except when CI is set: then it fails).
"""

import atexit
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import HUB_PATH, Stack, expect, expect_eq, scaled  # noqa: E402
import test_browser as TB  # noqa: E402  (Browser, skip_unless_browser_runs)

PAGE = 'mercure.html'
# More hubd options for the shared stack (test_browser_mercure08.py sets
# some before the first check starts it).
STACK_ARGS = []
# The "not received within 2 s": waited on purpose, after a later
# matching update (the marker) already arrived on the same ordered stream.
NOT_WITHIN = 2.0

# The test page: the browser's own EventSource and fetch, recording what
# they see. Python calls M.* through the driver's evaluate command.
PAGE_HTML = r'''<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>hubd Mercure browser test</title>
<script>
'use strict';
window.M = {
  streams: {},
  open(name, url, init) {
    if (this.streams[name]) this.streams[name].es.close();
    const es = init ? new EventSource(url, init) : new EventSource(url);
    const rec = { es, opens: 0, errors: [], events: [] };
    es.onopen = () => { rec.opens++; };
    es.onerror = () => { rec.errors.push(es.readyState); };
    es.onmessage = (e) => {
      rec.events.push({ data: e.data, lastEventId: e.lastEventId, origin: e.origin, type: e.type });
    };
    this.streams[name] = rec;
    return true;
  },
  state(name) {
    const r = this.streams[name];
    if (!r) return null;
    return { readyState: r.es.readyState, withCredentials: r.es.withCredentials,
             opens: r.opens, errors: r.errors, events: r.events };
  },
  closeAll() {
    for (const r of Object.values(this.streams)) r.es.close();
    this.streams = {};
    return true;
  },
  async publish(url, token, fields, credentials) {
    const body = new URLSearchParams();
    for (const [k, v] of fields) body.append(k, v);
    try {
      const r = await fetch(url, { method: 'POST', body, credentials: credentials || 'same-origin',
                                   headers: { Authorization: 'Bearer ' + token } });
      return { ok: true, status: r.status, body: await r.text(),
               contentType: r.headers.get('content-type') };
    } catch (e) {
      return { ok: false, error: String(e) };
    }
  },
};
</script>
<p>hubd Mercure browser test</p>
'''


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass


class OriginServer:
    """A static file server on a free loopback port, in a thread of this
    process: another origin for the same page."""

    def __init__(self, directory):
        handler = functools.partial(QuietHandler, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.origin = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


class Env:
    """What every check shares: the page on two extra origins (listed,
    unlisted), hubd + lighttpd with --cors-origins naming the listed one,
    and chromium."""

    def __init__(self):
        self.pagedir = tempfile.mkdtemp(prefix='hubd-origins-')
        self.servers = []
        self.stack = None
        self.browser = None
        try:
            with open(os.path.join(self.pagedir, PAGE), 'w') as f:
                f.write(PAGE_HTML)
            self.listed = OriginServer(self.pagedir)
            self.servers.append(self.listed)
            self.unlisted = OriginServer(self.pagedir)
            self.servers.append(self.unlisted)
            self.stack = Stack(extra_hubd_args=['--cors-origins', self.listed.origin] + STACK_ARGS,
                               name='mercure')
            self.stack.start()
            with open(os.path.join(self.stack.docroot, PAGE), 'w') as f:
                f.write(PAGE_HTML)
            self.origin = self.stack.base_url
            self.hub = self.stack.base_url + HUB_PATH
            self.browser = TB.Browser()
            print('# chromium %s; hub %s; listed origin %s; unlisted origin %s'
                  % (self.browser.version, self.origin, self.listed.origin, self.unlisted.origin))
        except BaseException:
            self.close(check=False)
            raise
        self.page_errors = 0

    def close(self, check=True):
        try:
            if self.browser is not None:
                self.browser.close()
                self.browser = None
            for srv in self.servers:
                srv.close()
            self.servers = []
        finally:
            shutil.rmtree(self.pagedir, ignore_errors=True)
            if self.stack is not None:
                st, self.stack = self.stack, None
                st.stop(check=check)


_env = None
_env_error = None


def env():
    """The shared Env, started on first use (once: a failed start is not
    retried by every check)."""
    global _env, _env_error
    if _env_error is not None:
        raise AssertionError('the shared set-up failed: %s' % _env_error)
    if _env is None:
        try:
            _env = Env()
        except BaseException as e:
            _env_error = '%s: %s' % (type(e).__name__, e)
            raise
    return _env


# ---- the page ------------------------------------------------------------------

def js(expr):
    ans = env().browser.call('evaluate', expression=expr)
    return ans['value']


def m(fn, *args):
    """Calls M.fn(args...) in the page (args as JSON); returns its value."""
    return js('M.%s(%s)' % (fn, ', '.join(json.dumps(a) for a in args)))


def open_page(origin=None, clear_cookies=True):
    """Opens the test page on origin (default: the hub's own), on a fresh
    page: no streams, and no cookies unless clear_cookies is false."""
    e = env()
    if clear_cookies:
        e.browser.call('clear_cookies')
    url = (origin or e.origin) + '/' + PAGE
    ans = e.browser.call('goto', url=url)
    expect_eq(ans['status'], 200, 'GET ' + url)
    expect_eq(js('typeof M'), 'object', 'the test page script')


def check(fn):
    """A check: it fails on errors thrown in the page, and closes its
    streams at the end."""
    @functools.wraps(fn)
    def run():
        e = env()
        before = len(e.browser.call('evaluate', expression='0')['pageErrors'])
        try:
            fn()
        finally:
            try:
                errors = e.browser.call('evaluate', expression='window.M ? M.closeAll() : 0')['pageErrors']
            except Exception as ex:
                print('# closing the streams: %s' % ex)
                errors = []
        expect(len(errors) == before, 'errors on the page: %r', errors[before:])
    return run


def es_open(name, topics, hub=None, query=None, credentials=False):
    """new EventSource(hub?topic=...[&query], {withCredentials} when asked)."""
    url = (hub or env().hub) + '?' + Stack.topic_query(topics)
    if query:
        url += '&' + query
    m('open', name, url, {'withCredentials': True} if credentials else None)


def es_state(name):
    st = m('state', name)
    expect(st is not None, 'no stream %r on the page', name)
    return st


def wait_open(*names, timeout=10.0):
    """Waits until each stream has fired open (readyState OPEN)."""
    for name in names:
        def opened():
            st = es_state(name)
            expect(st['readyState'] != 2, 'the browser closed stream %r before it opened '
                   '(error events with readyState %r)', name, st['errors'])
            return st['opens'] >= 1 and st['readyState'] == 1
        try:
            H.wait_for(opened, scaled(timeout), 'stream %r to open' % name, interval=0.03)
        except H.Timeout as ex:
            raise H.Timeout('%s: %r' % (ex, es_state(name)))


def got(name):
    return [(ev['lastEventId'], ev['data']) for ev in es_state(name)['events']]


def wait_got(name, want, what, timeout=5.0):
    """Waits until stream name received exactly want ([(id, data)]), in
    order; fails at once on anything else (an extra, a missing one passed
    over, a duplicate)."""
    def cond():
        g = got(name)
        expect(g == want[:len(g)], '%s: stream %r received %r, wanted %r', what, name, g, want)
        return g == want
    try:
        H.wait_for(cond, scaled(timeout), what, interval=0.03)
    except H.Timeout as ex:
        raise H.Timeout('%s\n  stream %r received %r\n  wanted %r'
                        % (ex, name, got(name), want))


def still(streams, what):
    """The issue's "not received within 2 s": after the marker arrived,
    waits NOT_WITHIN seconds and checks nothing else came."""
    time.sleep(NOT_WITHIN)
    for name, want in streams.items():
        expect_eq(got(name), want, '%s: stream %r %.0f s later' % (what, name, NOT_WITHIN))


def tag():
    """A fresh name part: every check uses its own topics."""
    return uuid.uuid4().hex[:12]


def pub(topics, data, **kw):
    """Publishes from Python (a POST through lighttpd); returns (id, data)."""
    return env().stack.publish_ok(topics, data, **kw), data


# ---- checks --------------------------------------------------------------------

@check
def test_raw_string_topic():
    """1. A raw-string topic ("my-topic") is received."""
    open_page()
    es_open('s', 'my-topic')
    wait_open('s')
    u = pub('my-topic', 'hello raw string')
    wait_got('s', [u], 'the update on my-topic')
    expect_eq(es_state('s')['events'][0]['origin'], env().origin, 'event.origin')


@check
def test_second_topic_of_an_update():
    """2. An update with several topics reaches a subscriber of its second
    topic (and one of its first), once each."""
    t = tag()
    first, second = 'https://example.com/%s/first' % t, 'urn:hubd:test:%s:second' % t
    open_page()
    es_open('second', second)
    es_open('first', first)
    wait_open('second', 'first')
    u1 = pub([first, second], 'to both topics')
    u2 = pub([first, second], 'again to both')
    wait_got('second', [u1, u2], 'the updates on their second topic')
    wait_got('first', [u1, u2], 'the updates on their first topic')


@check
def test_several_selectors():
    """3. A subscriber with several selectors (raw string, URI, URI
    template) gets the updates for each, and an update matching several of
    them once."""
    t = tag()
    raw, uri = 'topic-%s' % t, 'https://example.com/%s/uri' % t
    tmpl = 'https://example.com/%s/items/{id}' % t
    open_page()
    es_open('s', [raw, uri, tmpl])
    wait_open('s')
    want = [pub(raw, 'for the raw string'),
            pub(uri, 'for the URI'),
            pub('https://example.com/%s/items/42' % t, 'for the template'),
            pub([raw, uri, 'https://example.com/%s/items/7' % t], 'matches all three'),
            pub(raw, 'marker')]
    wait_got('s', want, 'an update per selector, once each')


@check
def test_uri_topic():
    """4. A URI topic (with a query string: the browser's URL encoding of
    the topic parameter reaches the hub intact)."""
    t = 'https://example.com/%s/books/1?lang=en&q=a%%20b' % tag()
    open_page()
    es_open('s', t)
    wait_open('s')
    u = pub(t, 'hello URI')
    wait_got('s', [u], 'the update on the URI topic')


@check
def test_uri_template_selector():
    """5. The selector https://example.com/books/{id} matches books/1."""
    open_page()
    es_open('s', 'https://example.com/books/{id}')
    wait_open('s')
    u = pub('https://example.com/books/1', 'book 1 via the template')
    wait_got('s', [u], 'the update on books/1')


@check
def test_non_matching_not_received():
    """6. Non-matching raw strings, URIs and template topics are not
    received: a matching marker published after them arrives alone, and
    nothing else within 2 s."""
    t = tag()
    raw, uri = 'my-topic-%s' % t, 'https://example.com/%s/a' % t
    tmpl = 'https://example.com/%s/books/{id}' % t
    open_page()
    es_open('s', [raw, uri, tmpl])
    wait_open('s')
    for topic in [raw + '-other', raw.upper(), 'x' + raw,                      # raw strings
                  uri + '/', uri + 'b', 'http://example.com/%s/a' % t,         # URIs
                  'https://example.com/%s/b' % t,
                  'https://example.com/%s/books/1/chapters/2' % t,             # not the template
                  'https://example.com/%s/authors/1' % t,
                  'https://example.org/%s/books/1' % t]:
        pub(topic, 'must not arrive: ' + topic)
    marker = pub(raw, 'marker')
    wait_got('s', [marker], 'only the marker')
    still({'s': [marker]}, 'non-matching topics')


@check
def test_private_not_received_anonymously():
    """7. A private update is not received by an anonymous EventSource."""
    t = 'https://example.com/%s/private' % tag()
    open_page()
    es_open('anon', t)
    wait_open('anon')
    pub(t, 'private: must not arrive', private=True)
    marker = pub(t, 'public marker')
    wait_got('anon', [marker], 'only the public marker')
    still({'anon': [marker]}, 'a private update, anonymously')


@check
def test_private_received_with_token():
    """8. A private update is received with a subscriber token in the
    mercureAuthorization cookie (set by the page on the hub's origin; the
    same-origin EventSource sends it) and with ?authorization=TOKEN; an
    anonymous stream on the same page (opened before the cookie was set)
    still does not get it."""
    t = 'https://example.com/%s/private' % tag()
    tok = env().stack.token(publish=None, subscribe=[t])
    open_page()
    es_open('anon', t)
    es_open('query', t, query=urllib.parse.urlencode({'authorization': tok}))
    wait_open('anon', 'query')
    js("document.cookie = 'mercureAuthorization=%s; path=%s'" % (tok, HUB_PATH))
    es_open('cookie', t)
    wait_open('cookie')
    secret = pub(t, 'private: for token holders', private=True)
    marker = pub(t, 'public marker')
    wait_got('cookie', [secret, marker], 'the private update, token in the cookie')
    wait_got('query', [secret, marker], 'the private update, token in the query')
    wait_got('anon', [marker], 'only the public marker, anonymously')


@check
def test_publisher_id_echoed():
    """9. fetch POST (Authorization: Bearer, form body) with an id of the
    publisher's: the response body is that id and the event's lastEventId
    is it; without an id, the hub's id is echoed and seen the same way."""
    t = 'https://example.com/%s/ids' % tag()
    tok = env().stack.token(publish=[t])
    my_id = 'urn:uuid:%s' % uuid.uuid4()
    open_page()
    es_open('s', t)
    wait_open('s')
    r = m('publish', env().hub, tok, [['topic', t], ['data', 'my own id'], ['id', my_id]])
    expect(r['ok'], 'fetch publish failed: %r', r)
    expect_eq((r['status'], r['body']), (200, my_id), 'fetch publish with an id: status, body')
    expect((r['contentType'] or '').startswith('text/plain'), 'content type: %r', r)
    r2 = m('publish', env().hub, tok, [['topic', t], ['data', 'the hub\'s id']])
    expect_eq(r2.get('status'), 200, 'fetch publish without an id (%r)' % r2)
    expect(r2['body'] and r2['body'] != my_id, 'the hub\'s id: %r', r2['body'])
    wait_got('s', [(my_id, 'my own id'), (r2['body'], 'the hub\'s id')],
             'the updates with their ids as lastEventId')


@check
def test_data_with_empty_lines():
    """10. Data holding empty lines arrives intact in event.data (CRLF line
    ends become LF, as the SSE format defines)."""
    t = 'https://example.com/%s/data' % tag()
    open_page()
    es_open('s', t)
    wait_open('s')
    want = [pub(t, 'a\n\nb'),
            pub(t, '\nleading, trailing and\n\n\nrepeated empty lines\n'),
            pub(t, '')]
    uid, _ = pub(t, 'a\r\n\r\nb\rc')
    want.append((uid, 'a\n\nb\nc'))
    wait_got('s', want, 'the data, empty lines and all')


@check
def test_cross_origin_listed():
    """11a. From a page of a --cors-origins origin: a credentialed
    EventSource receives updates (a private one too: the mercureAuthorization
    cookie, set for the hub's host, is sent), an uncredentialed one receives
    the public ones only, and a fetch publish works and can read the id."""
    e = env()
    t = 'https://example.com/%s/cors' % tag()
    sub_tok = e.stack.token(publish=None, subscribe=[t])
    pub_tok = e.stack.token(publish=[t])
    open_page()                    # the hub's origin sets the cookie for its host
    js("document.cookie = 'mercureAuthorization=%s; path=%s'" % (sub_tok, HUB_PATH))
    open_page(e.listed.origin, clear_cookies=False)
    es_open('cred', t, hub=e.hub, credentials=True)
    es_open('plain', t, hub=e.hub)
    wait_open('cred', 'plain')
    expect_eq(es_state('cred')['withCredentials'], True, 'withCredentials')
    r = m('publish', e.hub, pub_tok, [['topic', t], ['data', 'from another origin']], 'include')
    expect(r['ok'], 'cross-origin fetch publish failed: %r', r)
    expect_eq(r['status'], 200, 'cross-origin publish status (%r)' % r)
    expect(r['body'], 'the page could not read the id: %r', r)
    from_page = (r['body'], 'from another origin')
    secret = pub(t, 'private, for the cookie holder', private=True)
    marker = pub(t, 'public marker')
    wait_got('cred', [from_page, secret, marker], 'the credentialed stream')
    wait_got('plain', [from_page, marker], 'the uncredentialed stream (no cookie sent)')
    expect_eq(es_state('cred')['events'][0]['origin'], e.origin, 'event.origin')


@check
def test_cross_origin_unlisted():
    """11b. From a page of an origin not in --cors-origins the browser
    refuses: its EventSources error out without opening or receiving, and
    its fetch publish rejects (the preflight is not granted, so nothing is
    published)."""
    e = env()
    t = 'https://example.com/%s/cors-refused' % tag()
    open_page(e.unlisted.origin)
    es_open('cred', t, hub=e.hub, credentials=True)
    es_open('plain', t, hub=e.hub)
    r = m('publish', e.hub, e.stack.token(publish=[t]), [['topic', t], ['data', 'refused']])
    expect(not r['ok'], 'the browser let an unlisted origin read a publish answer: %r', r)
    print('# fetch from the unlisted origin: %s' % r['error'])
    for name in ('cred', 'plain'):
        def failed():
            st = es_state(name)
            return st if st['errors'] and st['readyState'] != 1 else None
        st = H.wait_for(failed, scaled(10), 'stream %r to fail' % name, interval=0.03)
        print('# stream %r from the unlisted origin: readyState %d, error events %r'
              % (name, st['readyState'], st['errors']))
    pub(t, 'published while the page is refused')
    for name in ('cred', 'plain'):
        st = es_state(name)
        expect_eq((st['opens'], st['events']), (0, []), 'stream %r: opens, events' % name)
    st, _, hist = e.stack.history(t)
    expect_eq(st, 200, 'history status')
    expect_eq([u['data'] for u in hist], ['published while the page is refused'],
              'updates stored on the topic (the refused fetch published nothing)')


def _close_at_exit():
    if _env is not None:
        _env.close(check=False)


atexit.register(_close_at_exit)


def finish():
    """Stops the browser, the origin servers and the stack; fails when
    hubd or lighttpd did not stop cleanly."""
    global _env
    if _env is not None:
        e, _env = _env, None
        e.close(check=True)


if __name__ == '__main__':
    TB.skip_unless_browser_runs()
    # Every check, then the shared stack's clean stop (reported as one more
    # test, also when only some checks are selected on the command line).
    tests = {k: v for k, v in globals().items() if k.startswith('test_') and callable(v)}
    tests['test_shared_stack_stops_cleanly'] = finish
    tests['__file__'] = __file__
    argv = sys.argv[1:]
    H.run_tests(tests, argv + ['test_shared_stack_stops_cleanly'] if argv else [])
