#!/usr/bin/env python3
"""test_browser_mercure08.py -- Mercure 1.0 (protocol draft-08) as a
browser sees it: Debian's chromium subscribes with its own EventSource,
with match parameters built by URLSearchParams, on a page served by
lighttpd on the hub's origin (the page, stack and browser of
test_browser_mercure.py, started here in this process).

Checks: a raw-string exact matcher; several matchers (an update matching
two is received once); a URI matcher with a query string; non-matching
topics, including a '{' matcher that is no template in draft-08, are not
received (a later marker proves delivery, then 2 s pass); a private update
is not received by an anonymous draft-08 subscriber; a publisher-chosen id
is the event's lastEventId; data with empty lines arrives intact;
last_event_id replays what followed; a stream the hub ends
(max-stream-lifetime) is resumed by the browser itself with Last-Event-ID,
losing nothing; a URL pattern matcher with a regular-expression group;
a private update received with a Mercure 1.0 access token (hubctl token
--at, an Ed25519 issuer made by openssl) in the token cookie, granting a
URL pattern; a draft-07 and a draft-08 EventSource on one page receive
the same updates. Needs what test_browser.py needs (skipped without it,
exit 77, except when CI is set: then it fails).
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import expect, expect_eq  # noqa: E402
import test_browser as TB  # noqa: E402
import test_browser_mercure as BM  # noqa: E402  (the shared page, stack and browser)
from test_browser_mercure import check, es_state, m, open_page, pub, tag, wait_got, wait_open  # noqa: E402,E501

# Keys of a Mercure 1.0 issuer (Ed25519, made by openssl), for tokens made
# by hubctl token --at.
ISS = 'https://issuer.example'
KEYDIR = tempfile.mkdtemp(prefix='hubd-browser-at-')
atexit.register(shutil.rmtree, KEYDIR, True)
PRIVATE, PUBLIC = os.path.join(KEYDIR, 'k.pem'), os.path.join(KEYDIR, 'k.pub.pem')
subprocess.run(['openssl', 'genpkey', '-algorithm', 'ed25519', '-out', PRIVATE], check=True,
               capture_output=True)
subprocess.run(['openssl', 'pkey', '-in', PRIVATE, '-pubout', '-out', PUBLIC], check=True,
               capture_output=True)

# The shared stack ends every stream after 2-3 s here (the reconnection
# check); the other checks finish well within that or survive it, since
# EventSource resumes by itself with Last-Event-ID.
# The cookie: a browser sets a __Secure- cookie over HTTPS only, and these
# pages are plain http://127.0.0.1, so the stack names another one
# (token-cookie; test_mercure08_auth.py covers the default name).
COOKIE = 'hubd_access_token'
BM.STACK_ARGS = ['--max-stream-lifetime', '3', '--token-issuer', '%s %s' % (ISS, PUBLIC),
                 '--token-cookie', COOKIE]


def mint(*args):
    """A Mercure 1.0 access token for the shared stack (hubctl token --at)."""
    st = BM.env().stack
    r = st.hubctl('token', '--at', '--issuer', ISS, '--audience', st.base_url + H.HUB_PATH,
                  '--key-file', PRIVATE, *args)
    expect_eq(r.returncode, 0, 'hubctl token --at: %s' % r.stderr)
    return r.stdout.strip()


def es_open08(name, pairs):
    """new EventSource(hub + '?' + new URLSearchParams(pairs)) on the page:
    the browser encodes the matchers itself."""
    js = ('(() => { const u = new URL(%s); for (const [k, v] of %s) u.searchParams.append(k, v);'
          ' return M.open(%s, u.href, null); })()'
          % (json.dumps(BM.env().hub), json.dumps(pairs), json.dumps(name)))
    expect(BM.js(js), 'M.open')


@check
def test_exact_raw_string():
    """An exact matcher on a raw string."""
    t = 'raw-%s' % tag()
    open_page()
    es_open08('s', [['match', t]])
    wait_open('s')
    u = pub(t, 'hello draft-08')
    wait_got('s', [u], 'the update on the raw string')


@check
def test_several_matchers():
    """match and match_exact together; an update on two matched topics
    arrives once."""
    t = tag()
    a, b = 'https://example.com/%s/a' % t, 'urn:hubd:%s:b' % t
    open_page()
    es_open08('s', [['match', a], ['match_exact', b]])
    wait_open('s')
    want = [pub(a, 'for a'), pub(b, 'for b'), pub([a, b], 'for both'), pub(a, 'marker')]
    wait_got('s', want, 'each matcher, and once for both')


@check
def test_uri_matcher():
    """A URI with a query string reaches the hub intact through
    URLSearchParams."""
    t = 'https://example.com/%s/books/1?lang=en&q=a%%20b' % tag()
    open_page()
    es_open08('s', [['match', t]])
    wait_open('s')
    u = pub(t, 'hello URI')
    wait_got('s', [u], 'the update on the URI')


@check
def test_non_matching_not_received():
    """Other topics, and a topic a draft-07 template would match, are not
    received: the draft-08 exact matcher takes '{id}' literally."""
    t = tag()
    tmpl = 'https://example.com/%s/books/{id}' % t
    open_page()
    es_open08('s', [['match', tmpl]])
    wait_open('s')
    pub('https://example.com/%s/books/1' % t, 'a template would match this')
    pub('https://example.com/%s/other' % t, 'another topic')
    u = pub(tmpl, 'the literal topic')
    wait_got('s', [u], 'only the literal topic')
    BM.still({'s': [u]}, 'nothing else')


@check
def test_private_not_received_anonymously():
    """An anonymous draft-08 subscriber gets no private update."""
    t = 'https://example.com/%s/private' % tag()
    open_page()
    es_open08('s', [['match', t]])
    wait_open('s')
    pub(t, 'secret', private=True)
    u = pub(t, 'public marker')
    wait_got('s', [u], 'only the public update')


@check
def test_custom_id_and_empty_lines():
    """A publisher-chosen id is the event's lastEventId; data with empty
    lines arrives as it was sent."""
    t = 'https://example.com/%s/data' % tag()
    chosen = 'urn:example:%s' % tag()
    data = 'line one\n\nline three'
    open_page()
    es_open08('s', [['match', t]])
    wait_open('s')
    st, _, body = BM.env().stack.publish(t, data, id=chosen)
    expect_eq((st, body), (200, chosen), 'publish with a chosen id')
    wait_got('s', [(chosen, data)], 'the update')


@check
def test_last_event_id_replay():
    """last_event_id in the URL replays the updates after it."""
    t = 'https://example.com/%s/replay' % tag()
    first = pub(t, 'one')
    rest = [pub(t, 'two'), pub(t, 'three')]
    open_page()
    es_open08('s', [['match', t], ['last_event_id', first[0]]])
    wait_open('s')
    wait_got('s', rest, 'the updates after the first')


@check
def test_resumed_after_the_hub_ends_it():
    """The hub ends the stream (max-stream-lifetime): the browser's own
    EventSource reconnects with Last-Event-ID and misses nothing published
    meanwhile."""
    t = 'https://example.com/%s/lifetime' % tag()
    open_page()
    es_open08('s', [['match', t]])
    wait_open('s')
    want = [pub(t, 'before the end')]
    wait_got('s', want, 'the first update')
    # Publish across the end of the stream and the reconnection.
    deadline = time.monotonic() + H.scaled(8)
    while es_state('s')['opens'] < 2 and time.monotonic() < deadline:
        want.append(pub(t, 'during %d' % len(want)))
        time.sleep(0.2)
    expect(es_state('s')['opens'] >= 2, 'the browser reconnected: %r' % es_state('s'))
    want.append(pub(t, 'after the reconnection'))
    wait_got('s', want, 'every update, once, across the reconnection', timeout=8)


@check
def test_url_pattern_matcher():
    """match_urlpattern with a named group and a regular-expression group;
    topics it does not match are not received."""
    t = tag()
    base = 'https://example.com/%s/books/' % t
    open_page()
    es_open08('s', [['match_urlpattern', base + ':id(\\d+)']])
    wait_open('s')
    pub(base + 'abc', 'not digits')
    pub('https://example.com/%s/authors/1' % t, 'not a book')
    want = [pub(base + '1', 'book 1'), pub(base + '42', 'book 42')]
    wait_got('s', want, 'the books with a number')
    BM.still({'s': want}, 'nothing else')


@check
def test_private_with_access_token_cookie():
    """A private update is received with a Mercure 1.0 access token in the
    token cookie (set by the page; the same-origin EventSource sends it)
    granting a URL pattern; an anonymous stream does not get it."""
    t = tag()
    topic = 'https://example.com/%s/private/1' % t
    tok = mint('--subscribe-urlpattern', 'https://example.com/%s/private/:n' % t)
    open_page()
    es_open08('anon', [['match', topic]])
    wait_open('anon')
    # (path: the hub's, so the page itself does not see it in document.cookie)
    BM.js("document.cookie = '%s=%s; path=%s'" % (COOKIE, tok, H.HUB_PATH))
    es_open08('cookie', [['match', topic]])
    wait_open('cookie')
    secret = pub(topic, 'private: for the token holder', private=True)
    marker = pub(topic, 'public marker')
    wait_got('cookie', [secret, marker], 'the private update, token in the cookie')
    wait_got('anon', [marker], 'only the public marker, anonymously')


@check
def test_both_drafts_on_one_page():
    """A draft-07 and a draft-08 EventSource on one page get the same
    updates."""
    t = 'https://example.com/%s/both' % tag()
    open_page()
    BM.es_open('old', t)
    es_open08('new', [['match', t]])
    wait_open('old', 'new')
    want = [pub(t, 'x%d' % i) for i in range(5)]
    wait_got('old', want, 'the draft-07 stream')
    wait_got('new', want, 'the draft-08 stream')
    m('closeAll')


if __name__ == '__main__':
    TB.skip_unless_browser_runs()
    tests = {k: v for k, v in globals().items() if k.startswith('test_') and callable(v)}
    tests['test_shared_stack_stops_cleanly'] = BM.finish
    tests['__file__'] = __file__
    argv = sys.argv[1:]
    H.run_tests(tests, argv + ['test_shared_stack_stops_cleanly'] if argv else [])
