#!/usr/bin/env python3
"""test_cors.py -- cross-origin use through lighttpd + hub.fcgi + hubd:
CORS preflight and response headers on the stream, publish and history for
configured origins only (cors-origins), and CSRF protection of publishes
authorized by the mercureAuthorization cookie (publish-origins)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import HUB_PATH, Stack, expect, expect_eq  # noqa: E402

T = 'https://example.com/cors'
APP = 'https://app.example.com'
EVIL = 'https://evil.example.net'
FORM = {'Content-Type': 'application/x-www-form-urlencoded'}


def preflight(s, origin, path=HUB_PATH):
    return s.request('OPTIONS', path, headers={
        'Origin': origin, 'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization'})


def acao(h):
    return h.get('Access-Control-Allow-Origin')


def test_no_cors_by_default():
    with Stack() as s:
        st, h, _ = preflight(s, APP)
        expect_eq((st, acao(h)), (204, None), 'preflight without configured origins')
        sub = s.subscribe(T, headers={'Origin': APP})
        expect_eq(sub.header('access-control-allow-origin'), None, 'stream header')
        st, h, _ = s.history(T, headers={'Origin': APP})
        expect_eq((st, acao(h)), (200, None), 'history header')
        sub.close()


def test_configured_origins():
    with Stack(extra_hubd_args=['--cors-origins', APP + ' https://other.example.org']) as s:
        st, h, _ = preflight(s, APP)
        expect_eq((st, acao(h)), (204, APP), 'preflight from a listed origin')
        expect_eq(h.get('Access-Control-Allow-Credentials'), 'true', 'credentials')
        methods = {m.strip() for m in (h.get('Access-Control-Allow-Methods') or '').split(',')}
        expect({'GET', 'POST'} <= methods, 'methods: %r', methods)
        allowed = (h.get('Access-Control-Allow-Headers') or '').lower()
        expect('authorization' in allowed and 'last-event-id' in allowed,
               'allowed headers: %r', allowed)
        st, h, _ = preflight(s, APP, HUB_PATH + '/history')
        expect_eq((st, acao(h)), (204, APP), 'preflight for history')
        st, h, _ = preflight(s, EVIL)
        expect_eq((st, acao(h)), (204, None), 'preflight from another origin')

        sub = s.subscribe(T, headers={'Origin': APP})
        expect_eq(sub.header('access-control-allow-origin'), APP, 'stream from a listed origin')
        expect_eq(sub.header('access-control-allow-credentials'), 'true', 'stream credentials')
        expose = (sub.header('access-control-expose-headers') or '').lower()
        expect('last-event-id' in expose, 'stream exposes Last-Event-ID: %r', expose)
        other = s.subscribe(T, headers={'Origin': EVIL})
        expect_eq(other.header('access-control-allow-origin'), None, 'stream from another origin')

        st, h, body = s.publish(T, 'x', headers={'Origin': APP})
        expect_eq((st, acao(h)), (200, APP), 'publish answer carries CORS')
        expect_eq(sub.next_event(H.scaled(5))['id'], body, 'and the update arrives')
        st, h, _ = s.publish(T, 'x', token='bad.token.here', headers={'Origin': APP})
        expect_eq((st, acao(h)), (401, APP), 'error answers carry CORS too')
        st, h, _ = s.history(T, headers={'Origin': APP})
        expect_eq((st, acao(h)), (200, APP), 'history answer carries CORS')
        st, h, _ = s.history(T, headers={'Origin': EVIL})
        expect_eq((st, acao(h)), (200, None), 'history from another origin')
        sub.close()
        other.close()
    with Stack(extra_hubd_args=['--cors-origins', '*']) as s:
        st, h, _ = preflight(s, EVIL)
        expect_eq((st, acao(h)), (204, EVIL), '"*" echoes the origin (credentials allowed)')


def test_cookie_publish_needs_a_listed_origin():
    cookie = lambda tok: {'Cookie': 'mercureAuthorization=' + tok}  # noqa: E731
    with Stack() as s:
        tok = s.token(publish=['*'])
        body = s.publish_body(T, 'csrf')
        st, _, msg = s.request('POST', HUB_PATH, body, dict(FORM, **cookie(tok), Origin=APP))
        expect_eq(st, 403, 'cookie publish without publish-origins: %s' % msg)
        st, _, _ = s.request('POST', HUB_PATH, body, dict(FORM, **cookie(tok)))
        expect_eq(st, 403, 'cookie publish without an Origin header')
        st, _, _ = s.request('POST', HUB_PATH, body,
                             dict(FORM, Authorization='Bearer ' + tok, Origin=EVIL))
        expect_eq(st, 200, 'a bearer header is not sent by browsers on their own: allowed')
    with Stack(extra_hubd_args=['--publish-origins', APP]) as s:
        tok = s.token(publish=['*'])
        sub = s.subscribe(T)
        body = s.publish_body(T, 'from the app')
        st, _, pid = s.request('POST', HUB_PATH, body, dict(FORM, **cookie(tok), Origin=APP))
        expect_eq(st, 200, 'cookie publish from a listed origin')
        st, _, _ = s.request('POST', HUB_PATH, s.publish_body(T, 'forged'),
                             dict(FORM, **cookie(tok), Origin=EVIL))
        expect_eq(st, 403, 'cookie publish from another origin')
        expect_eq(sub.next_event(H.scaled(5))['id'], pid, 'only the allowed one arrives')
        end = s.publish_ok(T, 'end')
        expect_eq(sub.next_event(H.scaled(5))['id'], end, 'nothing else was published')
        sub.close()


if __name__ == '__main__':
    H.run_tests(globals())
