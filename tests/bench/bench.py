"""bench.py -- the hubd benchmark (make bench): hubd behind lighttpd side by
side with nginx + Nchan (1 and 2 workers), the same scenarios, the same load
generator, in one run.

    (A) fan-out      1,000 subscribers x 100 updates/s: deliveries/s,
                     publish->receive latency, loss, CPU per delivery
    (B) 10k          10,000 subscribers: latency at 5 updates/s, then the
                     highest rate sustained with zero loss (a rate ladder)
    (C) memory       RSS per idle subscriber (10,000 of them)
    (D) publish      acknowledged publishes/s, 8 and 64 connections, 0 and 100 subscribers
    (E) replay       time to replay 10,000 missed updates to one subscriber
    (S) storm        10,000 subscribers (as many as (B, C)) leave at once
                     without a word, a second wave arrives 5 s later: how
                     long until the front's descriptors are back, how many
                     of the second wave get a stream, whether the site's /
                     answered throughout; and the server CPU of 10,000 idle
                     streams (heartbeats, probes) per hour
    (N) nodes        (Redis store, on request) one fixed load on 1, 2 and 3 hubd
                     nodes sharing one redis-server: deliveries/s, latency,
                     CPU per node and Redis's
    matching         (hubd only, on request) subscribe-side matching cost

Each scenario is run once per round and target (targets interleaved within
a round, so the machine's drift weighs on all alike), every target on a
stack of its own started here: hubd + lighttpd + hub.fcgi through
tests/integration/harness.py, or an nginx with its own configuration in a
temporary directory; the Redis targets (hubd-redis, hubd-redis2) and (N)
add a private redis-server of their own. The driver prints a table per target (a column per
round and the median) and a side-by-side table of the medians with the
ratio hubd / Nchan 1 worker. It measures; it never asserts. The exit status
is 1 only when a round could not be run at all (the benchmark is broken).
See tests/bench/README.md for what every figure means.

Environment (all optional; "quick" = the BENCH_QUICK=1 default):
    HUBD_BUILDDIR, HUBD_SRCDIR  build and source trees (as for the tests)
    BENCH_QUICK=1               smoke run (~1-2 minutes) with small numbers
    BENCH_ROUNDS                rounds (default 3, quick 1)
    BENCH_SCENARIOS             comma list of A,B,C,D,E,S,N,matching (default A,B,C,D,E,S,
                                and N when BENCH_TARGETS names a Redis target);
                                fanout, idle, publish, storm, nodes are A, C, D, S, N
    BENCH_TARGETS               comma list of hubd,hubd-direct,nchan1,nchan2,hubd-redis,
                                hubd-redis2 (default hubd,hubd-direct,nchan1,nchan2;
                                hubd-direct runs (D) only: publishes go to hubd's own
                                publish listener, subscribers through lighttpd;
                                hubd-redis(2): 1 (2) hubd nodes on one redis-server,
                                in (A), (B, C), (D), (E))
    BENCH_FANOUT_SUBS           (A) subscribers (1000, quick 100)
    BENCH_FANOUT_RATE           (A) updates/s (100, quick 50)
    BENCH_FANOUT_SECONDS        (A) seconds of publishing (10, quick 3)
    BENCH_FANOUT_PUB_CONNS      (A) publishing connections (16)
    BENCH_BIG_SUBS              (B, C) subscribers (10000, quick 1000)
    BENCH_B_LAT_RATE            (B) updates/s of the latency phase (5)
    BENCH_B_LAT_SECONDS         (B) its seconds (10, quick 3)
    BENCH_B_STEP_SECONDS        (B) seconds per ladder step (5, quick 2)
    BENCH_B_START_RATE          (B) first step of round 1, updates/s (2)
    BENCH_B_MAX_RATE            (B) highest step tried (2048)
    BENCH_B_REFINE              (B) bisections after the first failed step (2; later rounds 1)
    BENCH_B_MAX_STEPS           (B) steps at most per round and target (9)
    BENCH_B_MAX_P99_MS          (B) a step passes only with p99 <= this (1000)
    BENCH_B_DRAIN_S             (B) ... and every delivery within this after the last publish (2)
    BENCH_B_PUB_CONNS           (B) publishing connections (8)
    BENCH_PUB_CONNS             (D) closed-loop publishers, a comma list: a row set per
                                count (8,64; (E) fills with the first)
    BENCH_PUB_SECONDS           (D) seconds per phase (6, quick 2)
    BENCH_PUB_SUBS              (D) subscribers of the second phase (100)
    BENCH_REPLAY_UPDATES        (E) updates missed (10000, quick 2000)
    BENCH_REPLAY_REPEATS        (E) replays per round (3)
    BENCH_STORM_IDLE_SECONDS    (S) seconds the idle streams' CPU is measured (40, quick 5)
    BENCH_STREAMS_PER_FRONT     streams per lighttpd before another is started (6000)
    BENCH_NODES_LEVELS          (N) node counts (1,2,3)
    BENCH_NODES_SUBS            (N) subscribers, spread evenly over the nodes (2000, quick 300)
    BENCH_NODES_RATE            (N) updates/s, spread evenly over the nodes (25, quick 25)
    BENCH_NODES_SECONDS         (N) seconds of publishing (10, quick 3)
    BENCH_NODES_PUB_CONNS       (N) publishing connections, spread over the nodes (12)
    BENCH_SUBS_PER_PROC         subscribers per loadgen process (default 4000, quick 250)
    BENCH_MAX_SECONDS           stop starting new rounds after this (default 1800, and
                                1200 more per Redis target)
    BENCH_JSON=PATH             also write every raw result there as JSON
    BENCH_HUBD_ARGS             extra hubd options for every run, e.g. '--sync normal'
    NGINX, NCHAN_MODULE         nginx binary, ngx_nchan_module.so
    REDIS_SERVER                redis-server binary (/usr/bin/redis-server)
    LOADGEN                     a prebuilt loadgen binary to use
    (matching: BENCH_MATCHING_* as before, see tests/bench/README.md)
"""

import atexit
import http.client
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get('HUBD_SRCDIR') or os.path.join(HERE, '..', '..'))


def _default_builddir():
    if os.environ.get('HUBD_BUILDDIR'):
        return os.environ['HUBD_BUILDDIR']
    if os.access(os.path.join(os.getcwd(), 'hubd', 'hubd'), os.X_OK):
        return os.getcwd()
    return SRCDIR


BUILDDIR = os.path.abspath(_default_builddir())
os.environ['HUBD_SRCDIR'] = SRCDIR
os.environ['HUBD_BUILDDIR'] = BUILDDIR
sys.path.insert(0, os.path.join(SRCDIR, 'tests', 'integration'))

import harness  # noqa: E402  (needs the environment above)
from harness import Stack, stop_process, stop_nginx, child_pids  # noqa: E402

HUB_PATH = '/.well-known/mercure'
QUICK = os.environ.get('BENCH_QUICK', '') not in ('', '0', 'no')


def env_int(name, default, quick):
    v = os.environ.get(name)
    return int(v) if v else (quick if QUICK else default)


def env_float(name, default, quick):
    v = os.environ.get(name)
    return float(v) if v else (quick if QUICK else default)


HUBD_ARGS = tuple(os.environ.get('BENCH_HUBD_ARGS', '').split())

ROUNDS = env_int('BENCH_ROUNDS', 3, 1)
FANOUT_SUBS = env_int('BENCH_FANOUT_SUBS', 1000, 100)
FANOUT_RATE = env_int('BENCH_FANOUT_RATE', 100, 50)
FANOUT_SECONDS = env_int('BENCH_FANOUT_SECONDS', 10, 3)
FANOUT_PUB_CONNS = env_int('BENCH_FANOUT_PUB_CONNS', 16, 16)
BIG_SUBS = env_int('BENCH_BIG_SUBS', env_int('BENCH_IDLE_SUBS', 10000, 1000), 1000)
B_LAT_RATE = env_float('BENCH_B_LAT_RATE', 5, 5)
B_LAT_SECONDS = env_float('BENCH_B_LAT_SECONDS', 10, 3)
B_STEP_SECONDS = env_float('BENCH_B_STEP_SECONDS', 5, 2)
B_START_RATE = env_float('BENCH_B_START_RATE', 2, 8)
B_MAX_RATE = env_float('BENCH_B_MAX_RATE', 2048, 2048)
B_REFINE = env_int('BENCH_B_REFINE', 2, 1)
B_MAX_STEPS = env_int('BENCH_B_MAX_STEPS', 9, 6)
B_MAX_P99_MS = env_float('BENCH_B_MAX_P99_MS', 1000, 1000)
B_DRAIN_S = env_float('BENCH_B_DRAIN_S', 2, 2)
B_MAX_LAG_MS = env_float('BENCH_B_MAX_LAG_MS', 250, 250)
B_RECOVER_S = 20.0  # after a failed step: wait this long at most for the backlog
B_PUB_CONNS = env_int('BENCH_B_PUB_CONNS', 8, 8)
# (D) runs its phases once per count; (E) fills its log with the first.
PUB_CONNS_LIST = [int(x) for x in os.environ.get('BENCH_PUB_CONNS', '8,64').split(',')
                  if x.strip()] or [8]
PUB_CONNS = PUB_CONNS_LIST[0]
PUB_SECONDS = env_float('BENCH_PUB_SECONDS', 6, 2)
PUB_SUBS = env_int('BENCH_PUB_SUBS', 100, 100)
REPLAY_UPDATES = env_int('BENCH_REPLAY_UPDATES', 10000, 2000)
STORM_IDLE_SECONDS = env_float('BENCH_STORM_IDLE_SECONDS', 40, 5)
REPLAY_REPEATS = env_int('BENCH_REPLAY_REPEATS', 3, 2)
STREAMS_PER_FRONT = env_int('BENCH_STREAMS_PER_FRONT', 6000, 6000)
SUBS_PER_PROC = env_int('BENCH_SUBS_PER_PROC', 4000, 250)
NODES_LEVELS = [int(x) for x in os.environ.get('BENCH_NODES_LEVELS', '1,2,3').split(',')
                if x.strip()]
NODES_SUBS = env_int('BENCH_NODES_SUBS', 2000, 300)
NODES_RATE = env_float('BENCH_NODES_RATE', 25, 25)
NODES_SECONDS = env_float('BENCH_NODES_SECONDS', 10, 3)
NODES_PUB_CONNS = env_int('BENCH_NODES_PUB_CONNS', 12, 12)
ALIASES = {'fanout': 'A', 'idle': 'C', 'memory': 'C', 'publish': 'D', 'replay': 'E', 'storm': 'S',
           'nodes': 'N', 'a': 'A', 'b': 'B', 'c': 'C', 'd': 'D', 'e': 'E', 'n': 'N'}
TARGETS = [x.strip() for x in
           os.environ.get('BENCH_TARGETS', 'hubd,hubd-direct,nchan1,nchan2').split(',')
           if x.strip()]
REDIS_TARGETS = [t for t in TARGETS if t.startswith('hubd-redis')]
# A Redis target adds about as much as the hubd target takes: more room.
MAX_SECONDS = env_int('BENCH_MAX_SECONDS', 1800 + 1200 * len(REDIS_TARGETS), 600)
SCENARIOS = []
# With a Redis target and no BENCH_SCENARIOS, (N) joins the default ones.
for _x in os.environ.get('BENCH_SCENARIOS',
                         'A,B,C,D,E,S' + (',N' if REDIS_TARGETS else '')).split(','):
    _x = ALIASES.get(_x.strip(), _x.strip())
    if _x and _x not in SCENARIOS:
        SCENARIOS.append(_x)
CLK_TCK = os.sysconf('SC_CLK_TCK')
TOPIC = 'https://bench.example/updates'   # hubd's topic
CHANNEL = 'updates'                        # Nchan's channel id
NGINX = os.environ.get('NGINX') or shutil.which('nginx') or '/usr/sbin/nginx'
NCHAN_MODULE = os.environ.get('NCHAN_MODULE') or '/usr/lib/nginx/modules/ngx_nchan_module.so'
REDIS_SERVER = harness.REDIS_SERVER
TARGET_LABEL = {'hubd': 'hubd', 'hubd-direct': 'hubd dir', 'nchan1': 'Nchan 1w',
                'nchan2': 'Nchan 2w', 'hubd-redis': 'redis 1n', 'hubd-redis2': 'redis 2n'}
# Scenario groups a target takes part in (default: all). hubd-direct differs
# from hubd only in where publishes go; the Redis targets leave out (S),
# which measures the front, not the store.
TARGET_GROUPS = {'hubd-direct': ('D',), 'hubd-redis': ('A', 'BC', 'D', 'E'),
                 'hubd-redis2': ('A', 'BC', 'D', 'E')}
NOTES = []   # run-wide notes (a process that had to be killed, ...)


# ---- the load generator -------------------------------------------------------

def find_loadgen(tmp):
    """The loadgen binary: $LOADGEN, the one `make bench` built, or one
    compiled here from tests/bench/loadgen.c when that is missing or stale."""
    if os.environ.get('LOADGEN'):
        return os.environ['LOADGEN']
    src = os.path.join(SRCDIR, 'tests', 'bench', 'loadgen.c')
    built = os.path.join(BUILDDIR, 'tests', 'bench', 'loadgen')
    if os.access(built, os.X_OK) and os.path.getmtime(built) >= os.path.getmtime(src):
        return built
    out = os.path.join(tmp, 'loadgen')
    cc = os.environ.get('CC', 'cc')
    subprocess.run([cc, '-std=gnu11', '-O2', '-Wall', '-Wextra', '-o', out, src], check=True)
    return out


_next_source = [0]


def next_sources(n):
    """n loopback source addresses 127.0.0.2 .. 127.0.0.254, a fresh set each
    call (so connections of one round never meet the TIME_WAITs of another)."""
    out = []
    for _ in range(n):
        out.append('127.0.0.%d' % (2 + _next_source[0] % 253))
        _next_source[0] += 1
    return out


class Procs:
    """Every loadgen this run starts, so each is stopped by pid at the end."""

    def __init__(self):
        self.procs = []

    def start(self, argv, out_path, err_path):
        with open(out_path, 'wb') as out, open(err_path, 'wb') as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            stop_process(p, 5)
        self.procs = []


def read_report(out_path, err_path):
    """The JSON line a loadgen printed, or {'error': ...}."""
    try:
        with open(out_path) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        return json.loads(lines[-1])
    except (OSError, ValueError, IndexError):
        try:
            with open(err_path, errors='replace') as f:
                tail = f.read()[-500:]
        except OSError:
            tail = ''
        return {'error': 'loadgen printed no report: ' + tail.strip()}


def sub_procs(count):
    """How many loadgen processes carry count subscribers: SUBS_PER_PROC at
    most each, and a multiple of the lighttpd front-ends hubd needs for
    count streams, so that every front gets the same share. The same for
    every target, so the load generator is the same for all."""
    nproc = max(1, -(-count // SUBS_PER_PROC))
    nfront = fronts_for(count)
    return -(-nproc // nfront) * nfront


def fronts_for(count):
    """lighttpd front-ends for count streams (2 descriptors per stream)."""
    return max(1, -(-count // STREAMS_PER_FRONT))


class Subscribers:
    """A group of loadgen subscribe processes for one target (sub_procs()
    of them, each on its own 127.0.0.x source addresses, spread over the
    target's subscribe URLs). With status=True, poll() reads every
    process's counters (SIGUSR1 + --status-file) and gathers the latency of
    what arrived since the previous poll into the current phase."""

    def __init__(self, procs, tmp, tag, target, count, duration, expect=0, status=False,
                 extra=()):
        urls = target.sub_urls
        if count < len(urls):
            # Fewer subscribers than nodes: the last nodes' URLs, the
            # farthest from the publishes (which go to node 1).
            urls = urls[-count:]
        # Every URL (a node of a multi-node target) gets the same share.
        nproc = -(-sub_procs(count) // len(urls)) * len(urls)
        self.nodes = len(urls)
        self.groups = []
        self.phase_reset()
        for k in range(nproc):
            n = count // nproc + (1 if k < count % nproc else 0)
            base = os.path.join(tmp, '%s-%d' % (tag, k))
            argv = [LOADGEN, 'subscribe'] + target.sub_args(urls[k % len(urls)]) + [
                '--count', str(n), '--source', ','.join(next_sources(2)),
                '--duration', str(duration), '--ready-file', base + '.ready', '--hist']
            if expect:
                argv += ['--expect', str(expect)]
            if status:
                argv += ['--status-file', base + '.status']
            argv += list(extra)
            p = procs.start(argv, base + '.out', base + '.err')
            self.groups.append({'proc': p, 'base': base, 'node': k % len(urls)})

    def wait_ready(self, timeout):
        """Waits until every process has tried all its connections; returns
        (connected, failed) as they reported then."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [g for g in self.groups
                       if not os.path.exists(g['base'] + '.ready') and g['proc'].poll() is None]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        connected = failed = 0
        for g in self.groups:
            try:
                with open(g['base'] + '.ready') as f:
                    r = json.load(f)
                connected += r['connected']
                failed += r['failed']
            except (OSError, ValueError):
                pass
        return connected, failed

    def wait_exit(self, timeout):
        """Waits up to timeout for every process to finish by itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(g['proc'].poll() is not None for g in self.groups):
                return True
            time.sleep(0.02)
        return False

    def cpu(self):
        """CPU seconds the subscribe processes have used so far."""
        return sum_or_none(cpu_seconds(g['proc'].pid) for g in self.groups)

    def phase_reset(self):
        self.ph_hist, self.ph_max, self.ph_first, self.ph_last = {}, 0.0, None, None
        self.ph_node_hist = [{} for _ in range(self.nodes)]

    def poll(self, timeout=5):
        """Every process's counters summed (None when one did not answer);
        adds the latency since the previous poll to the phase."""
        for g in self.groups:
            try:
                os.unlink(g['base'] + '.status')
            except OSError:
                pass
            if g['proc'].poll() is None:
                os.kill(g['proc'].pid, signal.SIGUSR1)
        total = {'deliveries': 0, 'duplicates': 0, 'out_of_order': 0, 'disconnected': 0,
                 'connected': 0, 'gaps': 0, 'other_events': 0}
        deadline = time.monotonic() + timeout
        for g in self.groups:
            st = None
            while st is None:
                try:
                    with open(g['base'] + '.status') as f:
                        st = json.load(f)
                except (OSError, ValueError):
                    if time.monotonic() >= deadline or g['proc'].poll() is not None:
                        return None
                    time.sleep(0.005)
            for k in total:
                total[k] += st.get(k, 0)
            node_hist = self.ph_node_hist[g['node']]
            for v, n in st.get('iv_hist_us', []):
                self.ph_hist[v] = self.ph_hist.get(v, 0) + n
                node_hist[v] = node_hist.get(v, 0) + n
            self.ph_max = max(self.ph_max, st.get('iv_max_ms', 0.0))
            if st.get('iv_first_ns'):
                f, la = st['iv_first_ns'], st['iv_last_ns']
                self.ph_first = f if self.ph_first is None else min(self.ph_first, f)
                self.ph_last = la if self.ph_last is None else max(self.ph_last, la)
        total['live'] = total['connected'] - total['disconnected']
        return total

    def begin_phase(self):
        """Counters now; the phase's latency starts empty."""
        st = self.poll()
        self.phase_reset()
        return st

    def phase_latency(self):
        """p50/p90/p99/max (ms) and deliveries/s (first to last) of the phase."""
        total = sum(self.ph_hist.values())
        out = {}
        for name, p in (('p50', 0.50), ('p90', 0.90), ('p99', 0.99)):
            out[name] = quantile(self.ph_hist, total, p) / 1000.0 if total else None
        out['max'] = self.ph_max if total else None
        span = ((self.ph_last - self.ph_first) / 1e9
                if self.ph_first is not None and self.ph_last is not None else 0)
        out['per_s'] = total / span if span > 0 else None
        out['n'] = total
        return out

    def phase_node_latency(self, node):
        """p50/p99 (ms) of the phase for the subscribers on node (an index
        into the target's sub_urls)."""
        hist = self.ph_node_hist[node] if node < self.nodes else {}
        total = sum(hist.values())
        return {name: quantile(hist, total, p) / 1000.0 if total else None
                for name, p in (('p50', 0.50), ('p99', 0.99))}

    def finish(self):
        """Stops the processes (SIGTERM makes them report) and merges the reports."""
        for g in self.groups:
            stop_process(g['proc'], 10)
        reports = [read_report(g['base'] + '.out', g['base'] + '.err') for g in self.groups]
        m = merge_subscribe(reports)
        if self.nodes > 1:
            # The same per node (sub_urls[i]), for latency across nodes.
            m['by_node'] = [merge_subscribe([r for g, r in zip(self.groups, reports)
                                             if g['node'] == i]) for i in range(self.nodes)]
        return m


def merge_subscribe(reports):
    errors = [r['error'] for r in reports if 'error' in r]
    reports = [r for r in reports if 'error' not in r]
    m = {'processes': len(reports) + len(errors)}
    if errors:
        m['error'] = '; '.join(errors)
    if not reports:
        return m
    for k in ('requested', 'connected', 'failed', 'disconnected', 'deliveries', 'missing',
              'duplicates', 'out_of_order', 'other_events', 'bytes', 'completed'):
        m[k] = sum(r.get(k, 0) for r in reports)
    m['deliveries_per_s'] = sum(r['deliveries_per_s'] for r in reports)
    m['cpu_pct'] = sum(100.0 * r['cpu_s'] / r['elapsed_s'] for r in reports if r['elapsed_s'] > 0)
    m['connect_ms'] = max(r['connect_ms'] for r in reports)
    m['connect_p99_ms'] = max(r['connect_p99_ms'] for r in reports)
    done = [r.get('complete_ms', -1) for r in reports]
    m['complete_ms'] = max(done) if done and min(done) >= 0 else None
    first = [r.get('first_event_ms', -1) for r in reports if r.get('first_event_ms', -1) >= 0]
    m['first_event_ms'] = min(first) if first else None
    hist = {}
    for r in reports:
        for v, n in r.get('latency_hist_us', []):
            hist[v] = hist.get(v, 0) + n
    total = sum(hist.values())
    for name, p in (('p50', 0.50), ('p90', 0.90), ('p99', 0.99)):
        m['latency_%s_ms' % name] = quantile(hist, total, p) / 1000.0 if total else None
    m['latency_max_ms'] = max(r['latency_max_ms'] for r in reports) if total else None
    m['first_error'] = next((r['first_error'] for r in reports if r.get('first_error')), '')
    return m


def quantile(hist, total, p):
    want = max(1, -(-int(p * total * 1000000) // 1000000))
    seen = 0
    for v in sorted(hist):
        seen += hist[v]
        if seen >= want:
            return v
    return max(hist)


def run_publisher(procs, tmp, tag, target, seconds, conns, rate=None, total=None,
                  stream_base=0):
    """One loadgen publish run against target: fixed rate (rate/s for
    seconds), or closed loop (for seconds, or until total when given)."""
    base = os.path.join(tmp, tag)
    argv = [LOADGEN, 'publish'] + target.pub_args() + [
        '--duration', '%g' % seconds, '--conns', str(conns), '--stream-base', str(stream_base)]
    argv += ['--rate', '%g' % rate] if rate else ['--closed-loop']
    if total:
        argv += ['--total', str(total)]
    p = procs.start(argv, base + '.out', base + '.err')
    try:
        p.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        stop_process(p, 5)
    return read_report(base + '.out', base + '.err')


# ---- what the servers' processes use --------------------------------------------

def fd_count(pids):
    """Open descriptors of the processes pids (None when none could be read)."""
    n, seen = 0, False
    for p in pids:
        try:
            n += len(os.listdir('/proc/%d/fd' % p))
            seen = True
        except OSError:
            pass
    return n if seen else None


def cpu_seconds(pid):
    """utime + stime of pid in seconds (from /proc/PID/stat), or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def rss_kb(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def machine_jiffies():
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    try:
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v) - idle, sum(v)
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_pct(a, b):
    """% of the machine's CPUs busy between two machine_jiffies() (every
    process: ours, the load generator's and whatever else runs)."""
    if a is None or b is None or b[1] <= a[1]:
        return None
    return 100.0 * (b[0] - a[0]) / (b[1] - a[1])


def sum_or_none(values):
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return sum(values)


def cpu_delta(a, b):
    """CPU seconds between two snapshots of a target, per process group:
    hub (hubd, or the nginx workers; summed over the nodes), front (the
    lighttpd processes; None for Nchan), fcgi (the hub.fcgi processes; None
    for Nchan), redis (the redis-server; None without one), nodes (each
    node's hubd; None for one-node targets)."""
    d = {}
    for k in ('hub', 'front'):
        d[k] = b[k] - a[k] if a.get(k) is not None and b.get(k) is not None else None
    if b.get('fcgi') is None:
        d['fcgi'] = None
    else:
        # lighttpd may still be spawning hub.fcgi processes at the first
        # snapshot: one that appeared since counts from zero.
        d['fcgi'] = sum(b['fcgi'][p] - (a['fcgi'].get(p) or 0) for p in b['fcgi']
                        if b['fcgi'][p] is not None)
    # Redis targets: the redis-server (part of the server: in the total)
    # and every node's hubd apart (hub is their sum).
    d['redis'] = (b['redis'] - a['redis']
                  if a.get('redis') is not None and b.get('redis') is not None else None)
    d['nodes'] = ([y - x if x is not None and y is not None else None
                   for x, y in zip(a['nodes'], b['nodes'])] if a.get('nodes') else None)
    d['total'] = (d['hub'] + (d['front'] or 0.0) + (d['fcgi'] or 0.0) + (d['redis'] or 0.0)
                  if d['hub'] is not None else None)
    d['wall'] = b['t'] - a['t']
    d['machine_pct'] = machine_busy_pct(a.get('machine'), b.get('machine'))
    return d


def per_unit_us(seconds, units):
    if seconds is None or not units:
        return None
    return seconds * 1e6 / units


def percent(seconds, wall):
    if seconds is None or not wall:
        return None
    return 100.0 * seconds / wall


# ---- targets ----------------------------------------------------------------
#
# A target is a context manager that starts one complete server on free
# loopback ports and stops every process it started, by pid. It gives the
# loadgen arguments for its subscribe and publish URLs, and the pids whose
# CPU and memory are counted: 'hub' (hubd; the nginx workers), 'front'
# (the lighttpd processes; none for Nchan), 'fcgi' (hub.fcgi; none).


def log_findings(path, label, markers, ignore=()):
    """'LABEL: N MARKER line(s): 3x "..."' for each marker found in the log
    at path (lines with one of ignore left out): what the server itself
    complained about during a run."""
    try:
        with open(path, errors='replace') as f:
            lines = [ln for ln in f.read().splitlines() if not any(x in ln for x in ignore)]
    except OSError:
        return []
    out = []
    for m in markers:
        hits = [ln for ln in lines if m in ln]
        if hits:
            kinds = {}
            for ln in hits:
                key = ln.split(m, 1)[1].split(',')[0][:70]
                kinds[key] = kinds.get(key, 0) + 1
            top = sorted(kinds.items(), key=lambda kv: -kv[1])[:3]
            out.append('%s: %d %s line(s): %s' % (label, len(hits), m.strip(' :[]'), '; '.join(
                '%dx "%s"' % (n, k.strip()) for k, n in top)))
    return out


class HubdTarget:
    """hubd behind lighttpd + hub.fcgi (harness Stack), as the quick start
    runs it: with more than STREAMS_PER_FRONT subscribers, lighttpd forks
    that many more workers (server.max-worker; the quick start runs 2),
    since a lighttpd process holds 2 descriptors per stream and may have
    20,000."""

    kind = 'hubd'

    def __init__(self, subs=0, heartbeat=20, direct=False):
        self.nfront = fronts_for(subs)
        # direct: publishes go to hubd's publish listener, not through
        # lighttpd and hub.fcgi.
        self.direct = direct
        self.stack = Stack(heartbeat=heartbeat, extra_hubd_args=HUBD_ARGS,
                           lighttpd_workers=self.nfront if self.nfront > 1 else 0,
                           publish_listen=direct)
        self.topic = TOPIC
        self.log_notes = []

    def __enter__(self):
        self.stack.start()
        self.sub_urls = [self.stack.base_url + HUB_PATH]
        self.pub_url = self.stack.base_url + HUB_PATH
        if self.direct:
            self.pub_url = 'http://127.0.0.1:%d%s' % (self.stack.publish_port, HUB_PATH)
        self.token = self.stack.token(publish=['*'])
        return self

    def __exit__(self, *exc):
        d = self.stack.tmpdir or ''
        self.log_notes = log_findings(os.path.join(d, 'hubd.log'), 'hubd.log',
                                      (' error: ', ' warn: '))
        self.log_notes += log_findings(
            os.path.join(d, 'lighttpd.error.log'), 'lighttpd error.log', (') ',),
            ('server started', 'server stopped', 'graceful shutdown'))
        self.stack.stop()

    def sub_args(self, url):
        return ['--target', 'hubd', '--url', url, '--topic', self.topic]

    def pub_args(self):
        return ['--target', 'hubd', '--url', self.pub_url, '--topic', self.topic,
                '--token', self.token]

    def front_pids(self):
        return self.stack.lighttpd_pids()

    def fcgi_pids(self):
        fronts = set(self.front_pids())
        pids = set(self.stack.fcgi_pids) | set(child_pids(self.stack.lighttpd_pid))
        return sorted(pids - fronts)

    def cpu_snapshot(self):
        return {'hub': cpu_seconds(self.stack.hubd_pid),
                'front': sum_or_none(cpu_seconds(p) for p in self.front_pids()),
                'fcgi': {p: cpu_seconds(p) for p in self.fcgi_pids()},
                't': time.monotonic(), 'machine': machine_jiffies()}

    def rss(self):
        return {'hub': rss_kb(self.stack.hubd_pid),
                'front': sum_or_none(rss_kb(p) for p in self.front_pids())}

    def fds(self):
        try:
            return len(os.listdir('/proc/%d/fd' % self.stack.hubd_pid))
        except OSError:
            return None

    def front_fds(self):
        """Descriptors of the processes that hold the clients' sockets."""
        return fd_count(self.front_pids())

    def idle_writes(self):
        """Heartbeats and probes written so far (None: not counted)."""
        return self.stack.stats().get('probes')

    def closed_streams(self):
        """Streams closed so far (None: not counted; then streams() == 0
        tells when the first wave is gone)."""
        return self.stack.stats()['streams_closed']

    site_path = '/'

    def site_port(self):
        return self.stack.port

    def warm(self):
        self.stack.check_pubsub()

    def streams(self):
        """Subscriber streams the hub holds now."""
        return self.stack.stats()['subscribers']

    def publish_marker(self):
        """Publishes one update and returns its id (for Last-Event-ID)."""
        return self.stack.publish_ok([self.topic], 'marker')


NGINX_CONF = r'''# generated by tests/bench/bench.py: nginx + Nchan, self-contained
load_module {module};
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections {conns};
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Messages live in shared memory; (E) keeps {buffer} of them per channel.
    nchan_shared_memory_size 256m;
    nchan_message_buffer_length {buffer};
    nchan_message_timeout 1h;
    server {{
        # reuseport: the kernel spreads connections evenly over the workers.
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /pub {{
            nchan_publisher;
            nchan_channel_id $arg_id;
        }}
        location = /sub {{
            nchan_subscriber eventsource;
            nchan_channel_id $arg_id;
            # As hubd: a subscriber without Last-Event-ID gets only new
            # messages (Nchan's default, oldest, replays the buffer first).
            nchan_subscriber_first_message newest;
        }}
        location = /nchan_status {{
            nchan_stub_status;
        }}
        # The site's own page, for (S).
        location = / {{
            return 200 "ok\n";
        }}
    }}
}}
'''


_live_targets = set()


class NchanTarget:
    """nginx + Nchan with `workers` worker processes, its own configuration
    (NGINX_CONF) in a temporary directory, run in the foreground by pid;
    POST /pub?id=CHANNEL publishes, GET /sub?id=CHANNEL (EventSource)
    subscribes."""

    kind = 'nchan'

    def __init__(self, workers, subs=0):
        self.nworkers = workers
        self.proc = None
        self.workers = []
        self.dir = None
        self.topic = CHANNEL
        self.log_notes = []

    def __enter__(self):
        if not os.access(NGINX, os.X_OK) or not os.path.exists(NCHAN_MODULE):
            raise RuntimeError('nginx (%s) or the Nchan module (%s) is missing: '
                               'apt-get install nginx libnginx-mod-nchan' % (NGINX, NCHAN_MODULE))
        self.dir = tempfile.mkdtemp(prefix='bench-nchan-')
        hard = harness.raise_nofile_limit()[1]
        nofile = 65536 if hard == harness.resource.RLIM_INFINITY else min(65536, hard)
        last = ''
        try:
            for _ in range(5):
                self.port = harness.free_port('127.0.0.1')
                conf = os.path.join(self.dir, 'nginx.conf')
                with open(conf, 'w') as f:
                    f.write(NGINX_CONF.format(
                        module=NCHAN_MODULE, workers=self.nworkers, nofile=nofile,
                        conns=nofile - 64, dir=self.dir, port=self.port,
                        buffer=max(20000, 2 * REPLAY_UPDATES)))
                with open(os.path.join(self.dir, 'nginx.out'), 'ab') as log:
                    self.proc = subprocess.Popen(
                        [NGINX, '-c', conf, '-p', self.dir + '/', '-g', 'daemon off;'],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and self.proc.poll() is None:
                    self.workers = child_pids(self.proc.pid)
                    if len(self.workers) >= self.nworkers:
                        try:
                            socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                            break
                        except OSError:
                            pass
                    time.sleep(0.05)
                if self.proc.poll() is None and len(self.workers) >= self.nworkers:
                    break
                last = self.log_tail()
                self._stop()
                if 'Address already in use' not in last:
                    raise RuntimeError('nginx did not start: %s' % last)
            else:
                raise RuntimeError('nginx did not start: %s' % last)
        except BaseException:
            self._stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        _live_targets.add(self)
        base = 'http://127.0.0.1:%d' % self.port
        self.sub_urls = [base + '/sub']
        self.pub_url = base + '/pub'
        return self

    def log_tail(self):
        out = []
        for name in ('nginx.out', 'error.log'):
            try:
                with open(os.path.join(self.dir, name), errors='replace') as f:
                    out.append(f.read()[-600:].strip())
            except OSError:
                pass
        return ' | '.join(x for x in out if x)

    def _stop(self):
        """SIGTERM to the master (fast shutdown: it stops its workers), then
        makes sure every worker it had is gone (SIGKILL by pid if not)."""
        if self.proc is None:
            return
        workers = set(self.workers) | set(child_pids(self.proc.pid))
        st, killed = stop_nginx(self.proc, workers)
        if isinstance(st, str):
            NOTES.append('nginx master %d had to be killed (%s)' % (self.proc.pid, st))
        NOTES.extend('nginx worker %d outlived its master: killed' % pid for pid in killed)
        self.proc = None

    def __exit__(self, *exc):
        try:
            self._stop()
        finally:
            if self.dir:
                self.log_notes = log_findings(
                    os.path.join(self.dir, 'error.log'), 'nginx error.log',
                    ('[emerg]', '[alert]', '[crit]', '[error]', '[warn]'))
            _live_targets.discard(self)
            if self.dir and not os.environ.get('HUBD_KEEP_TMP'):
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def sub_args(self, url):
        return ['--target', 'nchan', '--url', url, '--topic', self.topic]

    def pub_args(self):
        return ['--target', 'nchan', '--url', self.pub_url, '--topic', self.topic]

    def cpu_snapshot(self):
        return {'hub': sum_or_none(cpu_seconds(p) for p in self.workers), 'front': None,
                'fcgi': None, 't': time.monotonic(), 'machine': machine_jiffies()}

    def rss(self):
        return {'hub': sum_or_none(rss_kb(p) for p in self.workers), 'front': None}

    def fds(self):
        try:
            return sum(len(os.listdir('/proc/%d/fd' % p)) for p in self.workers)
        except OSError:
            return None

    def front_fds(self):
        return fd_count(self.workers)

    def idle_writes(self):
        return None  # Nchan's EventSource ping is off (its default)

    def closed_streams(self):
        return None

    site_path = '/'

    def site_port(self):
        return self.port

    def _request(self, method, target, body=None, headers=None):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        try:
            c.request(method, target, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read().decode('utf-8', 'replace')
        finally:
            c.close()

    def publish_marker(self, channel=None):
        st, body = self._request('POST', '/pub?id=' + (channel or self.topic), b'marker',
                                 {'Accept': 'application/json', 'Content-Type': 'text/plain'})
        if st not in (200, 201, 202):
            raise RuntimeError('Nchan publish answered %s: %s' % (st, body))
        return json.loads(body)['last_message_id']

    def warm(self):
        """Subscribe, publish, receive once (as the hubd stack's check)."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=10) as s:
            s.sendall(b'GET /sub?id=warmup HTTP/1.1\r\nHost: x\r\n'
                      b'Accept: text/event-stream\r\n\r\n')
            buf = b''
            while b'\r\n\r\n' not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError('Nchan warm-up: subscribe closed (%r)' % buf[-300:])
                buf += chunk
            self.publish_marker('warmup')
            deadline = time.monotonic() + 10
            while b'data: marker' not in buf and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            if b'data: marker' not in buf:
                raise RuntimeError('Nchan warm-up: no event (%r)' % buf[-300:])

    def streams(self):
        st, body = self._request('GET', '/nchan_status')
        for line in body.splitlines():
            if line.startswith('subscribers:'):
                return int(line.split(':')[1])
        return None


def _stop_live_targets():
    for t in list(_live_targets):
        try:
            t.__exit__(None, None, None)
        except Exception:
            pass


atexit.register(_stop_live_targets)


# ---- Redis targets ------------------------------------------------------------


class RedisServer(harness.RedisServer):
    """The tests' private redis-server (harness.RedisServer: a free loopback
    port, its files in a temporary directory, appendfsync always -- as
    durable as hubd's SQLite --sync full -- stopped by pid), with the
    warnings of its log kept for the run's notes (log_notes)."""

    def __init__(self):
        super().__init__(durable=True)
        self.log_notes = []

    def start(self):
        _live_targets.add(self)
        try:
            return super().start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            if self.dir:
                # Redis marks warnings with '#'; these are the machine's
                # settings or its ordinary start and stop, not the run's.
                self.log_notes = log_findings(
                    os.path.join(self.dir, 'redis.log'), 'redis.log', (' # ',),
                    ('overcommit_memory', 'Redis version', 'Server initialized',
                     'oO0OoO0Oo', 'Configuration loaded', 'User requested shutdown',
                     'Redis is now ready to exit'))
            _live_targets.discard(self)
            if os.environ.get('HUBD_KEEP_TMP'):
                self.dir = None  # close() then leaves the files
            self.close()


class RedisTarget:
    """nodes hubd nodes on one private redis-server (RedisServer), each node
    a stack of its own -- hubd --store redis behind its own lighttpd +
    hub.fcgi (harness Stack) -- all on one key prefix, so one hub. Subscribers
    are spread evenly over the nodes' URLs (sub_urls); publishes go to node
    1 (pub_url) or, in (N), to every node (pub_urls). Each node's lighttpd
    gets more workers above STREAMS_PER_FRONT streams, as HubdTarget's.
    CPU: 'hub' is every node's hubd summed, 'nodes' each apart, 'redis' the
    redis-server."""

    kind = 'hubd'

    def __init__(self, nodes, subs=0, heartbeat=20):
        self.nodes = nodes
        self.nfront = fronts_for(-(-subs // nodes))
        self.heartbeat = heartbeat
        self.redis = RedisServer()
        self.stacks = []
        self.topic = TOPIC
        self.log_notes = []

    def __enter__(self):
        _live_targets.add(self)
        try:
            self.redis.start()
            redis_args = ('--store', 'redis', '--redis', self.redis.address,
                          '--redis-prefix', 'bench')
            for i in range(self.nodes):
                s = Stack(heartbeat=self.heartbeat, extra_hubd_args=redis_args + HUBD_ARGS,
                          lighttpd_workers=self.nfront if self.nfront > 1 else 0,
                          name='node%d' % (i + 1))
                self.stacks.append(s)
                s.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.sub_urls = [s.base_url + HUB_PATH for s in self.stacks]
        self.pub_urls = list(self.sub_urls)
        self.pub_url = self.pub_urls[0]
        self.token = self.stacks[0].token(publish=['*'])
        return self

    def __exit__(self, *exc):
        notes = []
        try:
            for i, s in enumerate(self.stacks):
                d = s.tmpdir or ''
                label = 'node %d ' % (i + 1) if self.nodes > 1 else ''
                notes += log_findings(os.path.join(d, 'hubd.log'), label + 'hubd.log',
                                      (' error: ', ' warn: '))
                notes += log_findings(
                    os.path.join(d, 'lighttpd.error.log'), label + 'lighttpd error.log',
                    (') ',), ('server started', 'server stopped', 'graceful shutdown'))
            for s in self.stacks:
                try:
                    s.stop()
                except AssertionError as e:
                    notes.append(str(e))
        finally:
            # The nodes first: they hold connections to Redis.
            self.redis.__exit__(None, None, None)
            notes += self.redis.log_notes
            self.log_notes = notes
            self.stacks = []
            _live_targets.discard(self)

    def sub_args(self, url):
        return ['--target', 'hubd', '--url', url, '--topic', self.topic]

    def pub_args(self, url=None):
        return ['--target', 'hubd', '--url', url or self.pub_url, '--topic', self.topic,
                '--token', self.token]

    def front_pids(self):
        return [p for s in self.stacks for p in s.lighttpd_pids()]

    def fcgi_pids(self):
        fronts = set(self.front_pids())
        pids = set()
        for s in self.stacks:
            pids |= set(s.fcgi_pids) | set(child_pids(s.lighttpd_pid))
        return sorted(pids - fronts)

    def cpu_snapshot(self):
        nodes = [cpu_seconds(s.hubd_pid) for s in self.stacks]
        return {'hub': sum_or_none(nodes),
                'nodes': nodes,
                'redis': cpu_seconds(self.redis.pid),
                'front': sum_or_none(cpu_seconds(p) for p in self.front_pids()),
                'fcgi': {p: cpu_seconds(p) for p in self.fcgi_pids()},
                't': time.monotonic(), 'machine': machine_jiffies()}

    def rss(self):
        return {'hub': sum_or_none(rss_kb(s.hubd_pid) for s in self.stacks),
                'front': sum_or_none(rss_kb(p) for p in self.front_pids()),
                'redis': rss_kb(self.redis.pid)}

    def fds(self):
        return fd_count([s.hubd_pid for s in self.stacks])

    def front_fds(self):
        return fd_count(self.front_pids())

    def _sum_stats(self, key):
        vals = [s.stats().get(key) for s in self.stacks]
        return None if any(v is None for v in vals) else sum(vals)

    def idle_writes(self):
        return self._sum_stats('probes')

    def closed_streams(self):
        return self._sum_stats('streams_closed')

    site_path = '/'

    def site_port(self):
        return self.stacks[0].port

    def warm(self):
        """Every node works on its own, and the last node delivers what the
        first one published (through Redis)."""
        # A topic per node: a node whose reader is a little behind may
        # still deliver another node's check, acknowledged just before its
        # own subscriber arrived.
        for i, s in enumerate(self.stacks):
            s.check_pubsub('urn:hubd:check:%d' % (i + 1))
        if self.nodes > 1:
            with self.stacks[-1].subscribe('urn:hubd:cross') as sub:
                assert sub.status == 200, 'subscribe answered %s' % sub.status
                uid = self.stacks[0].publish_ok('urn:hubd:cross', 'cross')
                ev = sub.next_event(10)
                assert ev['id'] == uid, ev

    def streams(self):
        return self._sum_stats('subscribers')

    def publish_marker(self):
        return self.stacks[0].publish_ok([self.topic], 'marker')


def make_target(name, subs=0):
    if name in ('hubd', 'hubd-direct'):
        return HubdTarget(subs, direct=name == 'hubd-direct')
    if name in ('hubd-redis', 'hubd-redis2'):
        return RedisTarget(2 if name == 'hubd-redis2' else 1, subs)
    if name in ('nchan1', 'nchan2'):
        return NchanTarget(int(name[-1]), subs)
    raise ValueError('unknown target %r (known: %s)' % (name, ', '.join(TARGET_LABEL)))


def wait_streams(target, want, timeout=20):
    """Waits until the hub holds want subscriber streams; returns its count."""
    deadline = time.monotonic() + timeout
    n = None
    while time.monotonic() < deadline:
        try:
            n = target.streams()
        except Exception:
            n = None
        if n is not None and n >= want:
            return n
        time.sleep(0.1)
    return n


# ---- scenarios ------------------------------------------------------------------
#
# Each takes (target name, round, tmp, procs, state) and returns a dict of
# figures (keys starting with '_' are raw material, kept for BENCH_JSON and
# notes); state is a dict per target that lives across rounds.

def log_notes(t, name, rnd):
    return ['round %d %s %s' % (rnd + 1, name, n) for n in t.log_notes]


def node_latency(sub, prefix=''):
    """A multi-node target's publish->receive p50/p99 of the subscribers on
    node 1, where the publishes go ('same'), and on the other nodes
    ('other': every update crossed Redis to a node that did not take the
    publish), from a finished Subscribers' per-node reports."""
    by = sub.get('by_node')
    if not by:
        return {}
    other = by[1] if len(by) == 2 else None
    out = {}
    for side, m in (('same', by[0]), ('other', other)):
        for q in ('p50', 'p99'):
            out['%s%s_%s_ms' % (prefix, side, q)] = (m or {}).get('latency_%s_ms' % q)
    return out


def phase_node_latency(subs, prefix=''):
    """The same for the current phase of a Subscribers with status=True."""
    if subs.nodes < 2:
        return {}
    out = {}
    for side, node in (('same', 0), ('other', 1)):
        lat = subs.phase_node_latency(node)
        for q in ('p50', 'p99'):
            out['%s%s_%s_ms' % (prefix, side, q)] = lat[q]
    return out


def cpu_figures(cpu, units, prefix, unit_name):
    """CPU per unit (us) for hub, front, redis and all of them, and % of a core."""
    return {
        '%shub_us_per_%s' % (prefix, unit_name): per_unit_us(cpu['hub'], units),
        '%sfront_us_per_%s' % (prefix, unit_name): per_unit_us(cpu['front'], units),
        '%sredis_us_per_%s' % (prefix, unit_name): per_unit_us(cpu.get('redis'), units),
        '%stotal_us_per_%s' % (prefix, unit_name): per_unit_us(cpu['total'], units),
        '%shub_cpu_pct' % prefix: percent(cpu['hub'], cpu['wall']),
        '%sfront_cpu_pct' % prefix: percent(cpu['front'], cpu['wall']),
        '%sredis_cpu_pct' % prefix: percent(cpu.get('redis'), cpu['wall']),
        '%smachine_pct' % prefix: cpu.get('machine_pct'),
    }


def scenario_fanout(name, rnd, tmp, procs, state):
    """(A) FANOUT_SUBS subscribers, FANOUT_RATE updates/s for FANOUT_SECONDS."""
    total = FANOUT_RATE * FANOUT_SECONDS
    with make_target(name, FANOUT_SUBS) as t:
        t.warm()
        subs = Subscribers(procs, tmp, 'A%d-%s' % (rnd, name), t, FANOUT_SUBS,
                           duration=FANOUT_SECONDS + 90, expect=total)
        connected, failed = subs.wait_ready(60)
        streams = wait_streams(t, connected)
        c0 = t.cpu_snapshot()
        pub = run_publisher(procs, tmp, 'A%d-%s-pub' % (rnd, name), t, FANOUT_SECONDS,
                            FANOUT_PUB_CONNS, rate=FANOUT_RATE)
        # Subscribers leave by themselves once they hold every update; give
        # the stragglers a few seconds after the last publish.
        subs.wait_exit(5)
        c1 = t.cpu_snapshot()
        sub = subs.finish()
    cpu = cpu_delta(c0, c1)
    dl = sub.get('deliveries', 0)
    # Subscribers count missing against --expect (every update scheduled);
    # updates the publisher never got acknowledged are not the hub's loss.
    missing = sub.get('missing')
    if missing is not None and pub.get('acked') is not None:
        missing = max(0, missing - (total - pub['acked']) * (sub.get('connected') or 0))
    r = {
        'connected': sub.get('connected'),
        'streams': streams,
        'connect_ms': sub.get('connect_ms'),
        'published': pub.get('acked'),
        'publish_errors': pub.get('errors'),
        'deliveries': dl,
        'deliveries_per_s': sub.get('deliveries_per_s'),
        'latency_p50_ms': sub.get('latency_p50_ms'),
        'latency_p90_ms': sub.get('latency_p90_ms'),
        'latency_p99_ms': sub.get('latency_p99_ms'),
        'latency_max_ms': sub.get('latency_max_ms'),
        'missing': missing,
        'duplicates': sub.get('duplicates'),
        'out_of_order': sub.get('out_of_order'),
        'disconnected': sub.get('disconnected'),
        'fcgi_us_per_publish': per_unit_us(cpu['fcgi'], pub.get('acked')),
        'loadgen_cpu_pct': sub.get('cpu_pct'),
        'ack_p99_ms': pub.get('ack_p99_ms'),
        'pub_lag_ms': pub.get('schedule_lag_max_ms'),
        '_ready': [connected, failed],
        '_sub': sub, '_pub': pub, '_cpu': cpu,
        '_notes': [x for x in (sub.get('error'), sub.get('first_error'), pub.get('error'),
                               pub.get('first_error')) if x] + log_notes(t, name, rnd),
    }
    r.update(cpu_figures(cpu, dl, '', 'delivery'))
    r.update(node_latency(sub))
    return r


# ---- (B) and (C): 10,000 subscribers ------------------------------------------
#
# One server per round and target for both: connect BIG_SUBS subscribers
# (nobody publishes yet) and read the memory (C); then (B) on the same
# subscribers: a fixed BENCH_B_LAT_RATE for latency, then the ladder.
#
# The ladder finds the highest publish rate the hub sustains to every
# subscriber with zero loss. A step publishes at a fixed rate for
# B_STEP_SECONDS (B_PUB_CONNS connections, each with one request in flight
# and its own sequence), then waits for the deliveries. It passes when:
#   - the publisher held the rate: every planned publish was sent (at most
#     B_MAX_LAG_MS late) and acknowledged, no error;
#   - every acknowledged update reached every subscriber (deliveries =
#     acknowledged x subscribers) within B_DRAIN_S of the last publish,
#     with no duplicate, nothing out of order and no stream ended;
#   - the step's publish->receive p99 stayed <= B_MAX_P99_MS: a hub that
#     falls behind builds a backlog that grows for the whole step, which
#     this bounds (at 10% over capacity, 0.5 s after a 5 s step).
# Round 1 starts at B_START_RATE and doubles until a step fails, then
# bisects (geometric mean of the highest pass and lowest fail) B_REFINE
# times: resolution 2^(1/2^B_REFINE), 19% with 2. Later rounds start at the
# target's previous result and climb by sqrt(2) with one bisection (the
# same resolution, fewer steps). After a failed step the ladder waits (up
# to B_RECOVER_S) for the backlog to drain before the next one. A stream
# ended by the hub stops the ladder: the remaining steps would have fewer
# subscribers.


def tenk_step(t, subs, procs, tmp, tag, rate, seconds, stream_base, live, drain_s,
              recover_s=B_RECOVER_S):
    """One fixed-rate phase on subscribers that are already connected.
    Returns its figures and 'ok' / 'why' as the ladder judges them."""
    st0 = subs.begin_phase()
    c0 = t.cpu_snapshot()
    l0 = subs.cpu()
    pub = run_publisher(procs, tmp, tag, t, seconds, B_PUB_CONNS, rate=rate,
                        stream_base=stream_base)
    t_end = time.monotonic()
    acked = pub.get('acked') or 0
    want = acked * live
    st, got, drained, c1 = st0, 0, None, None
    while st0 is not None:
        st = subs.poll()
        if st is None:
            break
        got = st['deliveries'] - st0['deliveries']
        if got >= want:
            drained = time.monotonic() - t_end
            break
        if c1 is None and time.monotonic() - t_end > drain_s:
            c1 = t.cpu_snapshot()  # the step failed: CPU up to here
            l1 = subs.cpu()
        if time.monotonic() - t_end > recover_s:
            break
        time.sleep(0.05)
    if c1 is None:
        c1 = t.cpu_snapshot()
        l1 = subs.cpu()
    cpu = cpu_delta(c0, c1)
    lat = subs.phase_latency()

    def delta(k):
        return st[k] - st0[k] if st is not None and st0 is not None else None
    planned = int(rate * seconds + 0.5)
    r = {
        'rate': rate,
        'acked': acked,
        'planned': planned,
        'live': live,
        'expected': want,
        'delivered': got,
        'missing': max(0, want - got),
        'duplicates': delta('duplicates'),
        'out_of_order': delta('out_of_order'),
        'ended': delta('disconnected'),
        'drain_s': drained,
        'deliveries_per_s': lat['per_s'],
        'p50_ms': lat['p50'], 'p90_ms': lat['p90'], 'p99_ms': lat['p99'], 'max_ms': lat['max'],
        'pub_lag_ms': pub.get('schedule_lag_max_ms'),
        'pub_errors': pub.get('errors'),
        'ack_p99_ms': pub.get('ack_p99_ms'),
        'loadgen_cpu_pct': percent(l1 - l0 if l0 is not None and l1 is not None else None,
                                   cpu['wall']),
        '_cpu': cpu, '_pub': pub,
    }
    r.update(cpu_figures(cpu, got, '', 'delivery'))
    r.update(phase_node_latency(subs))
    why = []
    if st0 is None or st is None:
        why.append('a subscriber process did not answer')
    if acked < planned or pub.get('errors'):
        why.append('%d of %d acked, %s errors' % (acked, planned, pub.get('errors')))
    if (pub.get('schedule_lag_max_ms') or 0) > B_MAX_LAG_MS:
        why.append('publisher %.0f ms behind' % pub['schedule_lag_max_ms'])
    if got < want:
        why.append('%d of %d delivered' % (got, want))
    elif drained is not None and drained > drain_s:
        why.append('drained after %.1f s' % drained)
    if r['duplicates'] or r['out_of_order'] or r['ended']:
        why.append('%s dup, %s out of order, %s streams ended'
                   % (r['duplicates'], r['out_of_order'], r['ended']))
    if lat['p99'] is not None and lat['p99'] > B_MAX_P99_MS:
        why.append('p99 %.0f ms' % lat['p99'])
    r['ok'] = not why
    r['why'] = '; '.join(why)
    return r


def run_ladder(t, subs, procs, tmp, tag, live, start, factor, refine):
    steps = []
    lo = hi = None   # highest rate passed, lowest failed
    rate, refined, base = start, 0, 1000
    while len(steps) < B_MAX_STEPS:
        r = tenk_step(t, subs, procs, tmp, '%s-%d' % (tag, len(steps)), rate, B_STEP_SECONDS,
                      base, live, B_DRAIN_S)
        base += B_PUB_CONNS
        steps.append(r)
        if r['ended']:
            break
        if r['ok']:
            lo = rate if lo is None else max(lo, rate)
        else:
            hi = rate if hi is None else min(hi, rate)
        if hi is None:
            nxt = rate * factor
            if nxt > B_MAX_RATE:
                break
        elif lo is None:
            nxt = rate / factor
            if nxt < 0.2:
                break
        else:
            if refined >= refine:
                break
            nxt = math.sqrt(lo * hi)
            refined += 1
        rate = float('%.3g' % nxt)
        if (lo is not None and rate <= lo) or (hi is not None and rate >= hi):
            break
    return lo, hi, steps


def scenario_tenk(name, rnd, tmp, procs, state):
    """(C) memory of BIG_SUBS idle subscribers, then (B) on them: latency at
    B_LAT_RATE, and the highest rate with zero loss (the ladder)."""
    out = {}
    with make_target(name, BIG_SUBS) as t:
        t.warm()
        time.sleep(0.3)
        before = t.rss()
        subs = Subscribers(procs, tmp, 'B%d-%s' % (rnd, name), t, BIG_SUBS, duration=1800,
                           status=True)
        t0 = time.monotonic()
        connected, failed = subs.wait_ready(180)
        streams = wait_streams(t, connected, 30)
        ready_s = time.monotonic() - t0
        time.sleep(1.0)  # let the last handovers finish
        after = t.rss()
        fds = t.fds()
        n = connected or None

        def per_sub(k):
            if before[k] is None or after[k] is None or not n:
                return None
            return (after[k] - before[k]) / n
        c = {
            'connected': connected,
            'failed': failed,
            'streams': streams,
            'connect_s': ready_s,
            'hub_rss_before_kb': before['hub'],
            'hub_rss_after_kb': after['hub'],
            'hub_kb_per_sub': per_sub('hub'),
            'front_rss_before_kb': before['front'],
            'front_rss_after_kb': after['front'],
            'front_kb_per_sub': per_sub('front'),
            'total_kb_per_sub': (per_sub('hub') + (per_sub('front') or 0)
                                 if per_sub('hub') is not None else None),
            'hub_fds': fds,
            '_notes': [],
        }
        if connected != BIG_SUBS:
            c['_notes'].append('round %d %s: %d of %d subscribers connected'
                               % (rnd + 1, name, connected, BIG_SUBS))
        out['C'] = c
        if 'B' in SCENARIOS:
            live = connected
            lat = tenk_step(t, subs, procs, tmp, 'B%d-%s-lat' % (rnd, name), B_LAT_RATE,
                            B_LAT_SECONDS, 0, live, drain_s=10, recover_s=30)
            b = {'connected': connected}
            for k in ('deliveries_per_s', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'missing',
                      'duplicates', 'out_of_order', 'ended', 'hub_us_per_delivery',
                      'front_us_per_delivery', 'redis_us_per_delivery',
                      'total_us_per_delivery', 'hub_cpu_pct', 'front_cpu_pct',
                      'redis_cpu_pct', 'loadgen_cpu_pct', 'machine_pct', 'same_p50_ms',
                      'same_p99_ms', 'other_p50_ms', 'other_p99_ms'):
                b['lat_' + k] = lat.get(k)
            b['_lat'] = lat
            live -= lat['ended'] or 0
            prev = state.get('ladder')
            if prev:
                start, factor, refine = prev, math.sqrt(2), max(1, B_REFINE - 1)
            else:
                start, factor, refine = B_START_RATE, 2.0, B_REFINE
            lo, hi, steps = run_ladder(t, subs, procs, tmp, 'B%d-%s-step' % (rnd, name), live,
                                       start, factor, refine)
            if lo:
                state['ladder'] = lo
            best = max((s for s in steps if s['ok']), key=lambda s: s['rate'], default=None)
            b.update({
                'max_rate': lo,
                'max_deliveries_per_s': lo * live if lo else None,
                'first_fail_rate': hi,
                'best_measured_per_s': best['deliveries_per_s'] if best else None,
                'best_p99_ms': best['p99_ms'] if best else None,
                'best_hub_us_per_delivery': best['hub_us_per_delivery'] if best else None,
                'best_front_us_per_delivery': best['front_us_per_delivery'] if best else None,
                'best_redis_us_per_delivery': best['redis_us_per_delivery'] if best else None,
                'best_total_us_per_delivery': best['total_us_per_delivery'] if best else None,
                'best_hub_cpu_pct': best['hub_cpu_pct'] if best else None,
                'best_front_cpu_pct': best['front_cpu_pct'] if best else None,
                'best_redis_cpu_pct': best['redis_cpu_pct'] if best else None,
                'best_same_p99_ms': best.get('same_p99_ms') if best else None,
                'best_other_p99_ms': best.get('other_p99_ms') if best else None,
                'best_loadgen_cpu_pct': best['loadgen_cpu_pct'] if best else None,
                'best_machine_pct': best['machine_pct'] if best else None,
                'steps': len(steps),
                '_steps': steps,
            })
            trail = ', '.join('%g %s' % (s['rate'], 'ok' if s['ok'] else 'FAIL (%s)' % s['why'])
                              for s in steps)
            b['_notes'] = ['round %d %s ladder (updates/s): %s' % (rnd + 1, name, trail)]
            if lat['why']:
                b['_notes'].append('round %d %s %g/s phase: %s' % (rnd + 1, name, B_LAT_RATE,
                                                                    lat['why']))
            if lo is None:
                b['_notes'].append('round %d %s: no ladder step passed' % (rnd + 1, name))
            elif hi is None:
                b['_notes'].append('round %d %s: every step passed (raise BENCH_B_MAX_RATE)'
                                   % (rnd + 1, name))
            out['B'] = b
        sub = subs.finish()
    for k in ('B', 'C'):
        if k in out:
            out[k]['_sub'] = sub
            out[k]['_notes'] += [x for x in (sub.get('error'), sub.get('first_error')) if x]
    out['B' if 'B' in out else 'C']['_notes'] += log_notes(t, name, rnd)
    return out


# ---- (D) publish ----------------------------------------------------------------

def scenario_publish(name, rnd, tmp, procs, state):
    """(D) closed-loop publishers for PUB_SECONDS, once per count of
    PUB_CONNS_LIST: with no subscriber, then (every count again) with
    PUB_SUBS subscribers, which must get every update. Keys are prefixed
    'c<count>_' (c8_p0_publishes_per_s, ...)."""
    r = {'_notes': []}
    with make_target(name, PUB_SUBS) as t:
        t.warm()
        for conns in PUB_CONNS_LIST:
            c0 = t.cpu_snapshot()
            pub = run_publisher(procs, tmp, 'D%d-%s-0-%d' % (rnd, name, conns), t, PUB_SECONDS,
                                conns)
            c1 = t.cpu_snapshot()
            cpu = cpu_delta(c0, c1)
            acked = pub.get('acked')
            p = 'c%d_p0_' % conns
            r.update({
                p + 'publishes_per_s': pub.get('publishes_per_s'),
                p + 'errors': pub.get('errors'),
                p + 'ack_p50_ms': pub.get('ack_p50_ms'),
                p + 'ack_p99_ms': pub.get('ack_p99_ms'),
                p + 'hub_us_per_publish': per_unit_us(cpu['hub'], acked),
                p + 'redis_us_per_publish': per_unit_us(cpu['redis'], acked),
                p + 'total_us_per_publish': per_unit_us(cpu['total'], acked),
                p + 'machine_pct': cpu.get('machine_pct'),
                '_' + p + 'pub': pub,
            })
            r['_notes'] += [x for x in (pub.get('error'), pub.get('first_error')) if x]
        # The second phase on a topic (channel) of its own: nothing of the
        # first phase's load is left in its state.
        t.topic += '-subs'
        subs = Subscribers(procs, tmp, 'D%d-%s-subs' % (rnd, name), t, PUB_SUBS, duration=600,
                           status=True)
        connected, failed = subs.wait_ready(60)
        wait_streams(t, connected)
        base = 0
        for conns in PUB_CONNS_LIST:
            st0 = subs.begin_phase()
            c0 = t.cpu_snapshot()
            # Each run's publishing streams numbered apart (loadgen checks
            # the order per stream).
            base += conns
            pub = run_publisher(procs, tmp, 'D%d-%s-1-%d' % (rnd, name, conns), t, PUB_SECONDS,
                                conns, stream_base=base)
            base += conns
            t_end = time.monotonic()
            acked = pub.get('acked') or 0
            st, got, drained = st0, 0, None
            while st0 is not None:
                st = subs.poll()
                if st is None:
                    break
                got = st['deliveries'] - st0['deliveries']
                if got >= acked * connected:
                    drained = time.monotonic() - t_end
                    break
                if time.monotonic() - t_end > 30:
                    break
                time.sleep(0.05)
            c1 = t.cpu_snapshot()
            cpu = cpu_delta(c0, c1)
            lat = subs.phase_latency()

            def delta(k):
                return st[k] - st0[k] if st is not None and st0 is not None else None
            p = 'c%d_p1_' % conns
            r.update({
                p + 'subscribers': connected,
                p + 'publishes_per_s': pub.get('publishes_per_s'),
                p + 'errors': pub.get('errors'),
                p + 'ack_p50_ms': pub.get('ack_p50_ms'),
                p + 'ack_p99_ms': pub.get('ack_p99_ms'),
                p + 'deliveries': got,
                p + 'missing': max(0, acked * connected - got),
                p + 'duplicates': delta('duplicates'),
                p + 'out_of_order': delta('out_of_order'),
                p + 'ended': delta('disconnected'),
                p + 'drain_ms': drained * 1000 if drained is not None else None,
                p + 'p99_ms': lat['p99'],
                p + 'hub_us_per_publish': per_unit_us(cpu['hub'], acked),
                p + 'redis_us_per_publish': per_unit_us(cpu['redis'], acked),
                p + 'total_us_per_publish': per_unit_us(cpu['total'], acked),
                p + 'machine_pct': cpu.get('machine_pct'),
                '_' + p + 'pub': pub,
            })
            r.update(phase_node_latency(subs, p))
            r['_notes'] += [x for x in (pub.get('error'), pub.get('first_error')) if x]
            if drained is None:
                r['_notes'].append('round %d %s, %d publishers: %d subscribers did not get all '
                                   '%d updates within 30 s' % (rnd + 1, name, conns, connected,
                                                               acked))
        sub = subs.finish()
    r['_sub'] = sub
    r['_notes'] += [x for x in (sub.get('error'), sub.get('first_error')) if x] + \
        log_notes(t, name, rnd)
    return r


# ---- (E) replay -------------------------------------------------------------------

def scenario_replay(name, rnd, tmp, procs, state):
    """(E) REPLAY_UPDATES updates published after a marker; then, REPLAY_REPEATS
    times, one subscriber connects with Last-Event-ID = the marker's id and
    must receive all of them: connect -> last update received."""
    r = {'_notes': []}
    with make_target(name, 1) as t:
        t.warm()
        marker = t.publish_marker()
        pub = run_publisher(procs, tmp, 'E%d-%s-fill' % (rnd, name), t, 300, PUB_CONNS,
                            total=REPLAY_UPDATES)
        acked = pub.get('acked') or 0
        r['fill_publishes_per_s'] = pub.get('publishes_per_s')
        r['acked'] = acked
        if acked != REPLAY_UPDATES or pub.get('errors'):
            r['_notes'].append('round %d %s: %d of %d updates acknowledged (%s)' % (
                rnd + 1, name, acked, REPLAY_UPDATES, pub.get('first_error') or pub.get('error')))
        time.sleep(0.2)
        reps = []
        for k in range(REPLAY_REPEATS):
            c0 = t.cpu_snapshot()
            subs = Subscribers(procs, tmp, 'E%d-%s-r%d' % (rnd, name, k), t, 1, duration=120,
                               expect=acked, extra=['--last-event-id', marker])
            subs.wait_exit(120)
            c1 = t.cpu_snapshot()
            sub = subs.finish()
            cpu = cpu_delta(c0, c1)
            reps.append({'complete_ms': sub.get('complete_ms'),
                         'first_event_ms': sub.get('first_event_ms'),
                         'deliveries': sub.get('deliveries'), 'missing': sub.get('missing'),
                         'duplicates': sub.get('duplicates'),
                         'out_of_order': sub.get('out_of_order'),
                         'hub_us_per_update': per_unit_us(cpu['hub'], sub.get('deliveries')),
                         'total_us_per_update': per_unit_us(cpu['total'], sub.get('deliveries')),
                         '_sub': sub})
            r['_notes'] += [x for x in (sub.get('error'), sub.get('first_error')) if x]
    r['_notes'] += log_notes(t, name, rnd)
    ok = [x['complete_ms'] for x in reps if x['complete_ms'] is not None]
    r.update({
        'replay_ms': statistics.median(ok) if ok else None,
        'replay_best_ms': min(ok) if ok else None,
        'replays_complete': len(ok),
        'replay_updates_per_s': acked / (statistics.median(ok) / 1000) if ok and acked else None,
        'first_event_ms': median([x['first_event_ms'] for x in reps]),
        'replayed': median([x['deliveries'] for x in reps]),
        'missing': sum(x['missing'] or 0 for x in reps),
        'duplicates': sum(x['duplicates'] or 0 for x in reps),
        'out_of_order': sum(x['out_of_order'] or 0 for x in reps),
        'hub_us_per_update': median([x['hub_us_per_update'] for x in reps]),
        'total_us_per_update': median([x['total_us_per_update'] for x in reps]),
        '_reps': reps, '_pub': pub,
    })
    if len(ok) != len(reps):
        r['_notes'].append('round %d %s: %d of %d replays incomplete' % (
            rnd + 1, name, len(reps) - len(ok), len(reps)))
    return r

# ---- matching (hubd only): subscribe-side matching cost per publish -------------------
#
# One stack per round. Exact-topic subscribers are added level by level
# (MATCH_LEVELS; subscriber i on EXACT_FMT % i, a topic of its own). At every
# level the same batch of MATCH_PUBLISHES publishes is sent, each to ONE
# topic that has exactly one subscriber (publish k to topic k mod N; at
# N = 0 to topics nobody holds): once with no template subscriber, once
# with MATCH_TEMPLATES template subscribers that match no update (each costs
# hubd a test per update), and with BENCH_MATCHING_HIT=1 once with templates
# that match every update. hubd's CPU is read around each batch, after
# every delivery of the batch has arrived. Last, with every subscriber
# gone, the N = 0 batches again: the store grew over the run, and this
# shows how much of a difference between levels is that.
#
# lighttpd holds two descriptors per stream and a process may open 20,000
# on the bench machine, so above STREAMS_PER_FRONT streams more lighttpd
# front-ends (same config, same hubd) take a share of the subscribers.

EXACT_FMT = 'https://bench.example/t/%d'
MISS_FMT = 'https://bench.example/tmpl/{x}/%d'   # tested for every update, never matches
HIT_FMT = 'https://bench.example/t/{x%d}'         # matches every update


# ---- (S) storm ------------------------------------------------------------------

class SiteProbe(threading.Thread):
    """GETs the site's / on the front every 100 ms until stopped, counting
    the answers that were not a 200 within 2 s."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.stop_flag = threading.Event()
        self.ok = self.failed = 0
        self.max_ms = 0.0

    def run(self):
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=2)
                c.request('GET', self.path)
                good = c.getresponse().status == 200
                c.close()
            except (OSError, http.client.HTTPException):
                good = False
            self.max_ms = max(self.max_ms, (time.monotonic() - t0) * 1000)
            if good:
                self.ok += 1
            else:
                self.failed += 1
            self.stop_flag.wait(0.1)

    def finish(self):
        self.stop_flag.set()
        self.join(5)


def scenario_storm(name, rnd, tmp, procs, state):
    """(S) BIG_SUBS idle subscribers; the server CPU they cost for
    STORM_IDLE_SECONDS; then every one leaves at once (the load generator
    is killed: its sockets close with a FIN, as closed tabs do), and a
    second wave as large arrives 5 s later."""
    out = {'_notes': []}
    with make_target(name, BIG_SUBS) as t:
        t.warm()
        time.sleep(0.5)
        base_front, base_hub = t.front_fds(), t.fds()
        site = SiteProbe(t.site_port(), t.site_path)
        site.start()
        try:
            wave1 = Subscribers(procs, tmp, 'S%d-%s-1' % (rnd, name), t, BIG_SUBS,
                                duration=1800)
            connected, failed = wave1.wait_ready(180)
            wait_streams(t, connected, 30)
            out['connected'] = connected
            time.sleep(3.0)  # past the arrivals' own sweep
            writes0 = t.idle_writes()
            a = t.cpu_snapshot()
            time.sleep(STORM_IDLE_SECONDS)
            b = t.cpu_snapshot()
            writes1 = t.idle_writes()
            cpu = cpu_delta(a, b)
            hour = 3600.0 / (b['t'] - a['t'])
            for k in ('hub', 'front'):
                v = cpu.get(k)
                out['idle_%s_cpu_s_per_hour' % k] = v * hour if v is not None else None
            tot = sum(v for v in (cpu.get('hub'), cpu.get('front')) if v is not None)
            out['idle_ms_per_stream_hour'] = (tot * hour * 1000 / connected
                                              if connected else None)
            if writes0 is not None and writes1 is not None and connected:
                out['idle_writes_per_stream_hour'] = (writes1 - writes0) * hour / connected
            peak_front = t.front_fds()
            for g in wave1.groups:
                try:
                    os.kill(g['proc'].pid, signal.SIGKILL)
                except OSError:
                    pass
            t0 = time.monotonic()
            closed0 = t.closed_streams()
            back = hub_back = None
            slack = max(16, BIG_SUBS // 100)

            def watch_release():
                nonlocal back, hub_back
                now = time.monotonic() - t0
                f = t.front_fds()
                if back is None and f is not None and base_front is not None \
                        and f <= base_front + slack:
                    back = now
                if hub_back is None:
                    try:
                        closed = t.closed_streams()
                        if (t.streams() == 0 if closed is None
                                else closed - closed0 >= connected):
                            hub_back = now
                    except Exception:
                        pass
            # The first 5 s: the front's descriptors can be told apart from
            # the second wave's only until it starts.
            while time.monotonic() - t0 < 5.0:
                watch_release()
                time.sleep(0.05)
            out['front_fds_before'] = base_front
            out['front_fds_peak'] = peak_front
            out['front_fds_back_s'] = back
            out['front_fds_at_5s'] = t.front_fds()
            wave2 = Subscribers(procs, tmp, 'S%d-%s-2' % (rnd, name), t, BIG_SUBS,
                                duration=1800, status=True)
            t2 = time.monotonic()
            held5 = all_s = None
            # Not before loadgen has its SIGUSR1 handler (the default
            # action would end it).
            time.sleep(0.3)
            while time.monotonic() - t2 < 60:
                if back is None:
                    back = -1  # no longer measurable: the second wave is in
                watch_release()
                st = wave2.poll(timeout=2)
                live = st['live'] if st else None
                now = time.monotonic() - t2
                if held5 is None and now >= 5:
                    held5 = live
                if all_s is None and live is not None and live >= BIG_SUBS:
                    all_s = now
                if all_s is not None and held5 is not None and hub_back is not None:
                    break
                time.sleep(0.2)
            out['streams_released_s'] = hub_back
            if out['front_fds_back_s'] is None:
                out['_notes'].append('round %d %s: front descriptors not back within 5 s '
                                     '(%s at 5 s, %s before)' % (rnd + 1, name,
                                                               out['front_fds_at_5s'],
                                                               base_front))
            out['wave2_held_5s'] = held5
            out['wave2_all_s'] = all_s
            c2, f2 = wave2.wait_ready(120)
            out['wave2_accepted'] = c2
            out['wave2_failed'] = f2
            wave2.finish()
            wave1.finish()
        finally:
            site.finish()
        out['site_ok'] = site.ok
        out['site_failed'] = site.failed
        out['site_max_ms'] = site.max_ms
        out['hub_fds_before'] = base_hub
    out['_notes'] += log_notes(t, name, rnd)
    return out


def env_levels(name, default, quick):
    v = os.environ.get(name) or (quick if QUICK else default)
    return sorted(set(int(x) for x in v.split(',') if x.strip()))


MATCH_LEVELS = env_levels('BENCH_MATCHING_LEVELS', '0,1,1000,5000,10000', '0,1,100,500')
MATCH_TEMPLATES = env_int('BENCH_MATCHING_TEMPLATES', 100, 20)
MATCH_PUBLISHES = env_int('BENCH_MATCHING_PUBLISHES', 1000, 300)
MATCH_PUB_CONNS = env_int('BENCH_MATCHING_PUB_CONNS', 4, 4)
MATCH_RATE = env_int('BENCH_MATCHING_RATE', 0, 0)   # 0: closed loop
MATCH_REPEATS = env_int('BENCH_MATCHING_REPEATS', 3, 1)
MATCH_HIT = os.environ.get('BENCH_MATCHING_HIT', '') not in ('', '0', 'no')
STREAMS_PER_FRONT = env_int('BENCH_STREAMS_PER_FRONT', 6000, 6000)
MATCH_HEARTBEAT = 3600  # longest allowed: a heartbeat visits every stream


def match_variants():
    """(key, label, template format or None): the batches at each level."""
    v = [('none', 'none', None), ('miss', '%d miss' % MATCH_TEMPLATES, MISS_FMT)]
    if MATCH_HIT:
        v.append(('hit', '%d match' % MATCH_TEMPLATES, HIT_FMT))
    return v


def task_cpu_ns(pid):
    """{tid: CPU ns} for every thread of pid, from /proc/PID/task/TID/schedstat
    (nanoseconds; /proc/PID/stat counts 10 ms ticks)."""
    out = {}
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open('/proc/%d/task/%s/schedstat' % (pid, tid)) as f:
                out[int(tid)] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


class TopicGroup:
    """One loadgen subscribe process: count subscribers, subscriber i on
    topic fmt % (base + i); it rewrites its status file on SIGUSR1."""

    def __init__(self, procs, tmp, tag, url, fmt, base, count):
        self.path = os.path.join(tmp, tag)
        self.count = count
        argv = [LOADGEN, 'subscribe', '--url', url, '--topic-format', fmt,
                '--index-base', str(base), '--count', str(count),
                '--source', ','.join(next_sources(2)), '--duration', '1800',
                '--ready-file', self.path + '.ready', '--status-file', self.path + '.status',
                '--reset-on-exit']
        self.proc = procs.start(argv, self.path + '.out', self.path + '.err')

    def ready(self):
        """(connected, failed) once every connection was tried, else None."""
        try:
            with open(self.path + '.ready') as f:
                r = json.load(f)
            return r['connected'], r['failed']
        except (OSError, ValueError, KeyError):
            return (0, self.count) if self.proc.poll() is not None else None

    def ask_status(self):
        try:
            os.unlink(self.path + '.status')
        except OSError:
            pass
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGUSR1)

    def read_status(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.path + '.status') as f:
                    return json.load(f)
            except (OSError, ValueError):
                pass
            if time.monotonic() >= deadline or self.proc.poll() is not None:
                return None
            time.sleep(0.005)

    def finish(self):
        stop_process(self.proc, 10)
        return read_report(self.path + '.out', self.path + '.err')


def groups_status(*lists):
    """For each list of groups, its summed status counters (asked of every
    group at once); None for a list where a process did not answer."""
    for groups in lists:
        for g in groups:
            g.ask_status()
    out = []
    for groups in lists:
        total = {'deliveries': 0, 'duplicates': 0, 'disconnected': 0, 'receivers': 0}
        for g in groups:
            st = g.read_status()
            if st is None:
                total = None
                break
            for k in total:
                total[k] += st.get(k, 0)
        out.append(total)
    return out


def wait_groups_ready(groups, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(g.ready() is None for g in groups):
        time.sleep(0.05)
    connected = failed = 0
    for g in groups:
        r = g.ready() or (0, g.count)
        connected += r[0]
        failed += r[1]
    return connected, failed


def wait_subscribers(s, want, timeout=20):
    """Waits until hubd has want open streams; returns its count then."""
    deadline = time.monotonic() + timeout
    while True:
        n = s.stats()['subscribers']
        if n == want or time.monotonic() >= deadline:
            return n
        time.sleep(0.05)


def matching_batch(s, procs, tmp, tag, url, token, level, exact, tmpl, tmpl_hit, streams,
                   stream_base):
    """Publishes MATCH_PUBLISHES updates, each to one topic (with one
    subscriber when level > 0), waits for every delivery, and returns hubd's
    CPU per publish and what the checks found."""
    if level > 0:
        topics = ['--topic-format', EXACT_FMT, '--topic-count', str(level)]
    else:
        topics = ['--topic-format', EXACT_FMT, '--index-base', '1000000000',
                  '--topic-count', str(MATCH_PUBLISHES)]
    ex0, tm0 = groups_status(exact, tmpl)
    st0 = s.stats()
    c0, t0, w0 = cpu_seconds(s.hubd_pid), task_cpu_ns(s.hubd_pid), time.monotonic()
    base = os.path.join(tmp, tag)
    argv = [LOADGEN, 'publish', '--url', url, '--token', token, '--conns', str(MATCH_PUB_CONNS),
            '--total', str(MATCH_PUBLISHES), '--stream-base', str(stream_base)] + topics
    if MATCH_RATE:
        argv += ['--rate', str(MATCH_RATE), '--duration', '%.3f' % (MATCH_PUBLISHES / MATCH_RATE)]
    else:
        argv += ['--closed-loop', '--duration', '300']
    p = procs.start(argv, base + '.out', base + '.err')
    try:
        p.wait(330)
    except subprocess.TimeoutExpired:
        stop_process(p, 5)
    pub = read_report(base + '.out', base + '.err')
    acked = pub.get('acked') or 0
    want_ex = acked if level > 0 else 0
    want_tm = acked * MATCH_TEMPLATES if tmpl_hit else 0
    # Every delivery must be in before the second CPU reading, so that all
    # it cost hubd falls inside the window.
    ex1, tm1 = ex0, tm0
    deadline = time.monotonic() + 20
    while ex0 is not None and tm0 is not None:
        ex1, tm1 = groups_status(exact, tmpl)
        if ex1 is None or tm1 is None:
            break
        if (ex1['deliveries'] - ex0['deliveries'] >= want_ex and
                tm1['deliveries'] - tm0['deliveries'] >= want_tm) or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    c1, t1, wall = cpu_seconds(s.hubd_pid), task_cpu_ns(s.hubd_pid), time.monotonic() - w0
    st1 = s.stats()

    def delta(a, b, k):
        return b[k] - a[k] if a is not None and b is not None else None
    loop_ns = (t1[s.hubd_pid] - t0[s.hubd_pid]) if s.hubd_pid in t0 and s.hubd_pid in t1 else None
    all_ns = sum(t1[t] - t0[t] for t in t1 if t in t0)
    r = {
        'acked': acked,
        'errors': pub.get('errors'),
        'publishes_per_s': pub.get('publishes_per_s'),
        'hubd_us_per_publish': all_ns / 1e3 / acked if acked else None,
        'loop_us_per_publish': loop_ns / 1e3 / acked if acked and loop_ns is not None else None,
        'hubd_stat_us_per_publish': per_unit_us(
            c1 - c0 if c0 is not None and c1 is not None else None, acked),
        'exact_received': delta(ex0, ex1, 'deliveries'),
        'exact_expected': want_ex,
        'template_received': delta(tm0, tm1, 'deliveries'),
        'template_expected': want_tm,
        'hubd_deliveries': st1['deliveries'] - st0['deliveries'],
        'hubd_subscribers': st1['subscribers'],
        'streams_expected': streams,
        'duplicates': (delta(ex0, ex1, 'duplicates') or 0) + (delta(tm0, tm1, 'duplicates') or 0),
        'streams_ended': (delta(ex0, ex1, 'disconnected') or 0) + (delta(tm0, tm1, 'disconnected') or 0),
        'wall_s': wall,
        '_pub': pub,
    }
    problems = []
    if acked != MATCH_PUBLISHES or r['errors']:
        problems.append('%d of %d publishes acknowledged, %s errors %s' % (
            acked, MATCH_PUBLISHES, r['errors'], pub.get('first_error') or pub.get('error') or ''))
    if r['exact_received'] != want_ex:
        problems.append('exact subscribers received %s, expected %d' % (r['exact_received'], want_ex))
    if tmpl and r['template_received'] != want_tm:
        problems.append('template subscribers received %s, expected %d'
                        % (r['template_received'], want_tm))
    if r['hubd_deliveries'] != want_ex + want_tm:
        problems.append('hubd counted %d deliveries, expected %d'
                        % (r['hubd_deliveries'], want_ex + want_tm))
    if r['hubd_subscribers'] != streams:
        problems.append('hubd had %d streams, expected %d' % (r['hubd_subscribers'], streams))
    if r['duplicates'] or r['streams_ended']:
        problems.append('%d duplicates, %d streams ended' % (r['duplicates'], r['streams_ended']))
    r['problems'] = problems
    return r


def scenario_matching(rnd, tmp, procs):
    """(matching) hubd CPU per publish as exact-topic subscribers grow (MATCH_LEVELS)
    and shrink again, with and without template subscribers."""
    top = max(MATCH_LEVELS)
    nfront = max(1, -(-(top + MATCH_TEMPLATES) // STREAMS_PER_FRONT))
    per_front = max(1, -(-top // nfront))
    batches, levels, notes, reports = {}, {}, [], []
    # More streams than one lighttpd process holds: lighttpd workers, as
    # for HubdTarget; every group subscribes at the same URL.
    with Stack(heartbeat=MATCH_HEARTBEAT, extra_hubd_args=HUBD_ARGS,
               lighttpd_workers=nfront if nfront > 1 else 0) as s:
        urls = [s.base_url + HUB_PATH] * nfront
        token = s.token(publish=['*'])
        # Each batch publishes on streams of its own (loadgen's per-stream
        # sequence check), counted from 0 in every round.
        nbatch = [0]

        def next_streams():
            nbatch[0] += 1
            return (nbatch[0] - 1) * MATCH_PUB_CONNS
        # Warm-up (not reported): the store's first pages, the code paths.
        matching_batch(s, procs, tmp, 'm%d-warm' % rnd, urls[0], token, 0, [], [], False, 0,
                       next_streams())
        added = {}   # level -> the subscriber groups added on reaching it

        def run_batches(level, visit, streams, repeats):
            # Each variant `repeats` times, the order reversed every other
            # time: the machine's load drifts, the pairs do not.
            variants = match_variants()
            order = [v for k in range(repeats) for v in (variants if k % 2 == 0
                                                         else variants[::-1])]
            exact = [g for lv in added for g in added[lv]]
            for k, (key, _, fmt) in enumerate(order):
                tag = '%d-%d-%s-%d' % (level, visit, key, k)
                tmpl = []
                if fmt:
                    tmpl = [TopicGroup(procs, tmp, 'm%d-t%s' % (rnd, tag),
                                       urls[-1], fmt, 0, MATCH_TEMPLATES)]
                    connected, failed = wait_groups_ready(tmpl, 60)
                    if connected != MATCH_TEMPLATES:
                        notes.append('round %d, N=%d: %d of %d template subscribers connected'
                                     % (rnd + 1, level, connected, MATCH_TEMPLATES))
                    wait_subscribers(s, streams + MATCH_TEMPLATES)
                r = matching_batch(s, procs, tmp, 'm%d-pub-%s' % (rnd, tag), urls[0],
                                   token, level, exact, tmpl, key == 'hit',
                                   streams + (MATCH_TEMPLATES if fmt else 0), next_streams())
                for g in tmpl:
                    g.finish()
                if tmpl:
                    wait_subscribers(s, streams)
                for pr in r['problems']:
                    notes.append('round %d, N=%d, templates %s: %s' % (rnd + 1, level, key, pr))
                r['visit'] = visit
                batches.setdefault('%d/%s' % (level, key), []).append(r)

        # Up and down again (0, 1, ..., top, ..., 1, 0), so that a drift
        # over the run (the store grows, the machine's load changes)
        # weighs on every level alike; the top level is visited once,
        # with twice the batches.
        have = 0
        visits = MATCH_LEVELS + MATCH_LEVELS[-2::-1]
        for vi, level in enumerate(visits):
            t0 = time.monotonic()
            if level > have:
                new, i = [], have
                while i < level:
                    f = min(i // per_front, nfront - 1)
                    end = min(level, i + SUBS_PER_PROC, (f + 1) * per_front)
                    new.append(TopicGroup(procs, tmp, 'm%d-x%d' % (rnd, i), urls[f],
                                          EXACT_FMT, i, end - i))
                    i = end
                connected, failed = wait_groups_ready(new, 300)
                added[level] = new
                if failed:
                    notes.append('round %d: %d subscribers failed to connect at level %d'
                                 % (rnd + 1, failed, level))
            else:
                for lv in [x for x in added if x > level]:
                    reports += [g.finish() for g in added.pop(lv)]
            have = level
            n = wait_subscribers(s, level)
            if vi < len(MATCH_LEVELS):
                levels[str(level)] = {'connect_s': time.monotonic() - t0, 'hubd_streams': n}
            if n != level:
                notes.append('round %d: hubd has %d streams at level %d' % (rnd + 1, n, level))
            run_batches(level, 0 if vi < len(MATCH_LEVELS) else 1, n,
                        MATCH_REPEATS * (2 if level == top else 1))
        for lv in list(added):
            reports += [g.finish() for g in added.pop(lv)]
    receivers = sum(r.get('receivers', 0) for r in reports)
    if receivers != min(top, MATCH_PUBLISHES):
        notes.append('round %d: %d exact subscribers received updates, expected %d'
                     % (rnd + 1, receivers, min(top, MATCH_PUBLISHES)))
    return {'batches': batches, 'levels': levels, 'receivers': receivers,
            'fronts': nfront, '_notes': notes}


def print_matching(results):
    """The matching table: a row per (exact subscribers, template set). In a
    round a figure is the median of its batches; shown is the median over
    rounds, and of the per-round differences to the N = 0 row."""
    variants = match_variants()
    ok = [r for r in results if r]
    print()
    print('matching (hubd only): hubd CPU per publish as exact-topic subscribers grow')
    print('    a batch: %d publishes, each to one topic with one subscriber (%s);' % (
        MATCH_PUBLISHES, 'closed loop, %d conns' % MATCH_PUB_CONNS if not MATCH_RATE
        else '%d/s' % MATCH_RATE))
    print('    levels visited going up, then down; %d batches per row and round, with and without '
          'templates in turn' % (2 * MATCH_REPEATS))
    print('    templates: %d subscribers on %r (a test per update, no match)%s' % (
        MATCH_TEMPLATES, MISS_FMT,
        '; "match": on %r (match every update)' % HIT_FMT if MATCH_HIT else ''))
    print('    us/pub: microseconds of hubd CPU per publish, all threads (/proc/PID/task/*/schedstat);'
          ' stat: the same from')
    print('    /proc/PID/stat (10 ms ticks); loop: the event-loop thread only (fan-out runs there, '
          'the store commits on')
    print('    its own thread); d N=0: minus the N=0 row, same templates and round; '
          'least: the smallest batch.')
    print('    A round\'s figure is the median of its batches; shown are medians of %d round(s).'
          % len(ok))
    if not ok:
        print('  (no round completed)')
        return

    def med(vals):
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def fig(r, label, key, name):
        """The round's figure: the median over its batches."""
        return med([b.get(name) for b in r['batches'].get('%s/%s' % (label, key), [])])

    def diff(a, b, name):
        """Median over rounds of (row a minus row b); a, b = (label, key)."""
        out = []
        for r in ok:
            x, y = fig(r, a[0], a[1], name), fig(r, b[0], b[1], name)
            if x is not None and y is not None:
                out.append(x - y)
        return med(out)

    def cell(v, w):
        return ('%' + str(w) + 's') % ('-' if v is None else fmt(v))

    def least(label, key, name):
        """The least of every batch of every round: the figure least
        inflated by what else the machine was doing."""
        vals = [b.get(name) for r in ok for b in r['batches'].get('%s/%s' % (label, key), [])]
        vals = [v for v in vals if v is not None]
        return min(vals) if vals else None

    labels = [str(x) for x in MATCH_LEVELS]
    rw = max(len('rounds (us/pub)'), 6 * len(ok) + 2)
    print('  %-9s %-9s %7s %7s %7s  %-*s %7s %7s %7s %7s %7s  %s' % (
        'exact N', 'templates', 'us/pub', 'd N=0', 'stat', rw, 'rounds (us/pub)', 'least', 'loop',
        'd N=0', 'least', 'pubs/s', 'check'))
    for label in labels:
        for key, vlabel, _ in variants:
            if not any(r['batches'].get('%s/%s' % (label, key)) for r in ok):
                continue
            per_round = '/'.join(fmt(fig(r, label, key, 'hubd_us_per_publish')) for r in ok)
            bad = sum(1 for r in ok for b in r['batches'].get('%s/%s' % (label, key), [])
                      if b['problems'])
            print('  %-9s %-9s %s %s %s  %-*s %s %s %s %s %s  %s' % (
                label, vlabel,
                cell(med([fig(r, label, key, 'hubd_us_per_publish') for r in ok]), 7),
                cell(diff((label, key), ('0', key), 'hubd_us_per_publish'), 7),
                cell(med([fig(r, label, key, 'hubd_stat_us_per_publish') for r in ok]), 7),
                rw, per_round, cell(least(label, key, 'hubd_us_per_publish'), 7),
                cell(med([fig(r, label, key, 'loop_us_per_publish') for r in ok]), 7),
                cell(diff((label, key), ('0', key), 'loop_us_per_publish'), 7),
                cell(least(label, key, 'loop_us_per_publish'), 7),
                cell(med([fig(r, label, key, 'publishes_per_s') for r in ok]), 7),
                'ok' if not bad else '%d bad' % bad))
    # What the templates cost: with minus without, same level and round;
    # it should not depend on N, so all levels pooled is the best estimate.
    for key, vlabel, tfmt in variants:
        if not tfmt:
            continue
        parts, pool_all, pool_loop = [], [], []
        for label in labels:
            d_all = [fig(r, label, key, 'hubd_us_per_publish') - fig(r, label, 'none', 'hubd_us_per_publish')
                     for r in ok if fig(r, label, key, 'hubd_us_per_publish') is not None
                     and fig(r, label, 'none', 'hubd_us_per_publish') is not None]
            d_loop = [fig(r, label, key, 'loop_us_per_publish') - fig(r, label, 'none', 'loop_us_per_publish')
                      for r in ok if fig(r, label, key, 'loop_us_per_publish') is not None
                      and fig(r, label, 'none', 'loop_us_per_publish') is not None]
            pool_all += d_all
            pool_loop += d_loop
            parts.append('%s %s/%s' % (label, fmt(med(d_all)), fmt(med(d_loop))))
        print('  templates "%s" minus none, same N and round, us/pub all/loop:\n    %s;\n'
              '    all N pooled: %s/%s; from the least batches: %s/%s' % (
            vlabel, ', '.join(parts), fmt(med(pool_all)), fmt(med(pool_loop)),
            fmt(med([least(x, key, 'hubd_us_per_publish') - least(x, 'none', 'hubd_us_per_publish')
                     for x in labels if least(x, key, 'hubd_us_per_publish') is not None])),
            fmt(med([least(x, key, 'loop_us_per_publish') - least(x, 'none', 'loop_us_per_publish')
                     for x in labels if least(x, key, 'loop_us_per_publish') is not None]))))
    nonzero = [str(x) for x in MATCH_LEVELS if x]
    if len(nonzero) >= 2:
        lo, hi = nonzero[0] if nonzero[0] != '1' or len(nonzero) < 3 else nonzero[1], nonzero[-1]
        def ldiff(key, name):
            a, b = least(hi, key, name), least(lo, key, name)
            return a - b if a is not None and b is not None else None
        parts = ['%s %s/%s (least %s/%s)' % (
            vlabel, fmt(diff((hi, key), (lo, key), 'hubd_us_per_publish')),
            fmt(diff((hi, key), (lo, key), 'loop_us_per_publish')),
            fmt(ldiff(key, 'hubd_us_per_publish')), fmt(ldiff(key, 'loop_us_per_publish')))
            for key, vlabel, _ in variants]
        print('  N=%s minus N=%s, same templates and round, us/pub all/loop: %s' % (
            hi, lo, '; '.join(parts)))
    # The drift over a round: the lowest level's batches on the way down
    # minus those on the way up (the levels between saw both).
    def visit_fig(r, label, key, name, visit):
        return med([b.get(name) for b in r['batches'].get('%s/%s' % (label, key), [])
                    if b.get('visit') == visit])
    if len(labels) > 1:
        parts = []
        for key, vlabel, _ in variants:
            d = {}
            for name in ('hubd_us_per_publish', 'loop_us_per_publish'):
                xs = [visit_fig(r, labels[0], key, name, 1) - visit_fig(r, labels[0], key, name, 0)
                      for r in ok if visit_fig(r, labels[0], key, name, 1) is not None
                      and visit_fig(r, labels[0], key, name, 0) is not None]
                d[name] = med(xs)
            parts.append('%s %s/%s' % (vlabel, fmt(d['hubd_us_per_publish']),
                                       fmt(d['loop_us_per_publish'])))
        print('  drift: N=%s at the end minus at the start of a round, us/pub all/loop: %s' % (
            labels[0], '; '.join(parts)))
    conn = []
    for label in nonzero:
        lv = [r['levels'][label] for r in ok if label in r['levels']]
        streams = med([x['hubd_streams'] for x in lv])
        conn.append('%s (%s s)' % ('-' if streams is None else '%d' % streams,
                                   fmt(med([x['connect_s'] for x in lv]))))
    print('  exact streams in hubd per level (time to connect the new ones): %s; '
          'lighttpd front-ends: %d' % (', '.join(conn), ok[0].get('fronts', 1)))
    print('  exact subscribers that received updates: %s (expected %d per round)' % (
        '/'.join(str(r.get('receivers')) for r in ok), min(max(MATCH_LEVELS), MATCH_PUBLISHES)))
    notes = set()
    for r in ok:
        notes.update(r.get('_notes', []))
    for n in sorted(notes):
        print('  note: %s' % n)
    sys.stdout.flush()


# ---- (N) nodes: the cost per node as Redis nodes are added --------------------
#
# One fixed load -- NODES_SUBS subscribers spread evenly over the nodes,
# NODES_RATE updates/s for NODES_SECONDS spread evenly over the nodes'
# publish URLs -- on 1, 2, 3 (NODES_LEVELS) hubd nodes sharing one private
# redis-server, each level on a target of its own (RedisTarget), the levels
# visited upwards in odd rounds and downwards in even ones, so that drift
# weighs on every level alike. Every node reads every update from Redis
# whoever published it, and delivers it to its own share of the
# subscribers: the deliveries stay the same, the reading grows with the
# nodes. Figures: deliveries/s, publish->receive p50/p99 (a mix: with k
# nodes a subscriber's update came through its own node 1/k of the time),
# hubd CPU summed over the nodes and per node (per delivery to its own
# subscribers, and % of a core), redis-server CPU.

def run_publishers(procs, tmp, tag, t, seconds, conns, rate):
    """rate x seconds updates spread evenly over t.pub_urls: one fixed-rate
    loadgen per URL, started together, each with its share of the updates
    (and so of the rate) and of the connections, and stream numbers of its
    own. Returns the reports merged: acked and errors summed, lag and ack
    p99 the worst."""
    total = int(rate * seconds + 0.5)
    urls = t.pub_urls
    running = []
    for i, url in enumerate(urls):
        share = total // len(urls) + (1 if i < total % len(urls) else 0)
        base = os.path.join(tmp, '%s-%d' % (tag, i))
        argv = [LOADGEN, 'publish'] + t.pub_args(url) + [
            '--duration', '%g' % seconds, '--conns', str(max(1, conns // len(urls))),
            '--stream-base', str(i * conns), '--rate', '%g' % (share / seconds),
            '--total', str(share)]
        running.append((procs.start(argv, base + '.out', base + '.err'), base))
    reports = []
    for p, base in running:
        try:
            p.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            stop_process(p, 5)
        reports.append(read_report(base + '.out', base + '.err'))
    good = [r for r in reports if 'error' not in r]
    m = {'planned': total,
         'acked': sum(r.get('acked', 0) for r in good),
         'errors': sum(r.get('errors', 0) for r in good),
         'schedule_lag_max_ms': max((r.get('schedule_lag_max_ms', 0) for r in good), default=None),
         'ack_p99_ms': max((r.get('ack_p99_ms', 0) for r in good), default=None),
         'first_error': next((r['first_error'] for r in good if r.get('first_error')), '')}
    if len(good) < len(reports):
        m['error'] = '; '.join(r['error'] for r in reports if 'error' in r)
    return m


def nodes_level(k, rnd, tmp, procs):
    """(N) one level: k nodes, the fixed load, its figures."""
    with RedisTarget(k, NODES_SUBS) as t:
        t.warm()
        subs = Subscribers(procs, tmp, 'N%d-%d' % (rnd, k), t, NODES_SUBS,
                           duration=NODES_SECONDS + 90,
                           expect=int(NODES_RATE * NODES_SECONDS + 0.5))
        connected, failed = subs.wait_ready(60)
        streams = wait_streams(t, connected)
        c0 = t.cpu_snapshot()
        pub = run_publishers(procs, tmp, 'N%d-%d-pub' % (rnd, k), t, NODES_SECONDS,
                             NODES_PUB_CONNS, NODES_RATE)
        subs.wait_exit(5)
        c1 = t.cpu_snapshot()
        sub = subs.finish()
    cpu = cpu_delta(c0, c1)
    dl = sub.get('deliveries', 0)
    missing = sub.get('missing')
    if missing is not None:
        missing = max(0, missing - (pub['planned'] - pub['acked']) * (sub.get('connected') or 0))
    r = {
        'nodes': k,
        'connected': connected,
        'streams': streams,
        'published': pub['acked'],
        'publish_errors': pub['errors'],
        'pub_lag_ms': pub['schedule_lag_max_ms'],
        'ack_p99_ms': pub['ack_p99_ms'],
        'deliveries': dl,
        'deliveries_per_s': sub.get('deliveries_per_s'),
        'latency_p50_ms': sub.get('latency_p50_ms'),
        'latency_p99_ms': sub.get('latency_p99_ms'),
        'latency_max_ms': sub.get('latency_max_ms'),
        'missing': missing,
        'duplicates': sub.get('duplicates'),
        'out_of_order': sub.get('out_of_order'),
        'disconnected': sub.get('disconnected'),
        'loadgen_cpu_pct': sub.get('cpu_pct'),
        'redis_us_per_update': per_unit_us(cpu['redis'], pub['acked']),
        '_sub': sub, '_pub': pub, '_cpu': cpu,
        '_notes': [x for x in (sub.get('error'), sub.get('first_error'), pub.get('error'),
                               pub.get('first_error')) if x] + log_notes(t, '%d nodes' % k, rnd),
    }
    r.update(cpu_figures(cpu, dl, '', 'delivery'))
    # Each node: its hubd's CPU over the deliveries to its own subscribers.
    by = sub.get('by_node') or [sub]
    per_dl, per_pct = [], []
    for i, c in enumerate(cpu['nodes'] or []):
        n_dl = by[i].get('deliveries') if i < len(by) else None
        per_dl.append(per_unit_us(c, n_dl))
        per_pct.append(percent(c, cpu['wall']))
        r['node%d_us_per_delivery' % (i + 1)] = per_dl[-1]
        r['node%d_cpu_pct' % (i + 1)] = per_pct[-1]
    ok = [v for v in per_pct if v is not None]
    r['node_cpu_pct_mean'] = sum(ok) / len(ok) if ok else None
    ok = [v for v in per_dl if v is not None]
    r['node_us_per_delivery_mean'] = sum(ok) / len(ok) if ok else None
    if connected != NODES_SUBS:
        r['_notes'].append('round %d, %d nodes: %d of %d subscribers connected'
                           % (rnd + 1, k, connected, NODES_SUBS))
    return r


def scenario_nodes(rnd, tmp, procs):
    """(N) every level of NODES_LEVELS once: {k: figures or None}."""
    out = {}
    levels = NODES_LEVELS if rnd % 2 == 0 else NODES_LEVELS[::-1]
    for k in levels:
        t0 = time.monotonic()
        try:
            out[k] = nodes_level(k, rnd, tmp, procs)
        except Exception:
            print('# N round %d, %d nodes failed:' % (rnd + 1, k))
            for ln in traceback.format_exc().rstrip().splitlines():
                print('#   ' + ln)
            out[k] = None
        finally:
            procs.stop_all()
        print('# N round %d, %d nodes: %.0f s' % (rnd + 1, k, time.monotonic() - t0))
        sys.stdout.flush()
    return out


def NODES_ROWS():
    rows = [('connected', 'subscribers connected', ''),
            ('published', 'updates acknowledged', ''),
            ('publish_errors', 'publish errors', '-'),
            ('pub_lag_ms', 'publisher behind plan (ms)', '-'),
            ('deliveries', 'deliveries', ''),
            ('deliveries_per_s', 'deliveries/s', '+'),
            ('latency_p50_ms', 'publish->receive p50 (ms)', '-'),
            ('latency_p99_ms', 'publish->receive p99 (ms)', '-'),
            ('latency_max_ms', 'publish->receive max (ms)', '-'),
            ('missing', 'missing', '-'),
            ('duplicates', 'duplicates', '-'),
            ('out_of_order', 'out of order', '-'),
            ('disconnected', 'streams ended by server', '-'),
            ('hub_us_per_delivery', 'hubd CPU, all nodes (us/delivery)', '-'),
            ('hub_cpu_pct', 'hubd CPU, all nodes (% of a core)', '-'),
            ('node_us_per_delivery_mean', 'hubd CPU per node (us/own delivery)', '-'),
            ('node_cpu_pct_mean', 'hubd CPU per node (% of a core)', '-')]
    for i in range(1, max(NODES_LEVELS or [1]) + 1):
        rows += [('node%d_us_per_delivery' % i, '  node %d (us/own delivery)' % i, '-'),
                 ('node%d_cpu_pct' % i, '  node %d (%% of a core)' % i, '-')]
    rows += [('redis_us_per_delivery', 'redis-server CPU (us/delivery)', '-'),
             ('redis_us_per_update', 'redis-server CPU (us/update)', '-'),
             ('redis_cpu_pct', 'redis-server CPU (% of a core)', '-'),
             ('front_us_per_delivery', 'lighttpd CPU, all (us/delivery)', '-'),
             ('total_us_per_delivery', 'all server CPU (us/delivery)', '-'),
             ('loadgen_cpu_pct', 'loadgen subs CPU (% of core)', ''),
             ('machine_pct', 'machine busy (% of all CPUs)', ''),
             ('ack_p99_ms', 'publish ack p99 (ms)', '-')]
    return rows


def print_nodes(results):
    """(N): a table per level (a column per round and the median), then the
    levels' medians side by side with each level / 1 node."""
    rows = NODES_ROWS()
    print()
    print('(N) nodes: %d subscribers spread over 1..%d hubd nodes on one redis-server, '
          '%g updates/s for %g s spread over the nodes (%d publishing conns)' % (
              NODES_SUBS, max(NODES_LEVELS), NODES_RATE, NODES_SECONDS, NODES_PUB_CONNS))
    per_level = {k: [r.get(k) if r else None for r in results] for k in NODES_LEVELS}
    for k in NODES_LEVELS:
        print_rounds('%d node%s' % (k, '' if k == 1 else 's'), rows, per_level[k])
    first = NODES_LEVELS[0]
    others = NODES_LEVELS[1:]
    print('  %-*s' % (LW, 'side by side (medians)') +
          ''.join('%10s' % ('%d node%s' % (k, '' if k == 1 else 's')) for k in NODES_LEVELS) +
          ''.join('%10s' % ('%d/%d' % (k, first)) for k in others))
    meds = {}
    for key, text, better in rows:
        meds[key] = {k: median([r.get(key) if r else None for r in per_level[k]])
                     for k in NODES_LEVELS}
        if all(v is None for v in meds[key].values()):
            continue
        line = '  %-*s' % (LW, text + (' ' + better if better else '')) + \
            ''.join('%10s' % fmt(meds[key][k]) for k in NODES_LEVELS)
        for k in others:
            q = ratio(meds[key][k], meds[key][first])
            line += '%10s' % ('-' if q is None else 'x%s' % fmt(q))
        print(line)
    # What one more node costs: the summed hubd CPU over the first level's,
    # per node added.
    hub = meds.get('hub_cpu_pct', {})
    for k in others:
        if hub.get(k) is not None and hub.get(first) is not None and k > first:
            d = (hub[k] - hub[first]) / (k - first)
            print('  hubd CPU per node added, %d -> %d nodes: %s%s%% of a core '
                  '(summed over the nodes %s%% vs %s%%)' % (
                      first, k, '+' if d >= 0 else '', fmt(d), fmt(hub[k]), fmt(hub[first])))
    notes = []
    for r in results:
        for lv in (r or {}).values():
            for n in (lv or {}).get('_notes', []):
                if n not in notes:
                    notes.append(n)
    for n in notes:
        print('  note: %s' % n)
    sys.stdout.flush()


# ---- the tables -------------------------------------------------------------------
#
# Rows: (key, label, better) with better '+' (higher is better), '-' (lower
# is better) or '' (a count or a setting: no verdict). "hub" is hubd, or
# the nginx workers for Nchan; "front" is lighttpd (none for Nchan); "all"
# is every server process (hub + front + hub.fcgi).

def CPU_ROWS(unit, p='', label=''):
    return [(p + 'hub_us_per_' + unit, label + 'hub CPU (us/%s)' % unit, '-'),
            (p + 'front_us_per_' + unit, label + 'front CPU (us/%s)' % unit, '-'),
            (p + 'redis_us_per_' + unit, label + 'redis-server CPU (us/%s)' % unit, '-'),
            (p + 'total_us_per_' + unit, label + 'all server CPU (us/%s)' % unit, '-')]

def PUBLISH_ROWS():
    """(D)'s rows: a set per count of publishers (PUB_CONNS_LIST)."""
    rows = []
    for c in PUB_CONNS_LIST:
        p, h = 'c%d_p0_' % c, '%d pubs, 0 subs: ' % c
        rows += [(p + 'publishes_per_s', h + 'acked publishes/s', '+'),
                 (p + 'errors', h + 'errors', '-'),
                 (p + 'ack_p50_ms', h + 'ack p50 (ms)', '-'),
                 (p + 'ack_p99_ms', h + 'ack p99 (ms)', '-'),
                 (p + 'hub_us_per_publish', h + 'hub CPU (us/publish)', '-'),
                 (p + 'redis_us_per_publish', h + 'redis CPU (us/publish)', '-'),
                 (p + 'total_us_per_publish', h + 'all CPU (us/publish)', '-'),
                 (p + 'machine_pct', h + 'machine busy (%)', '')]
    for c in PUB_CONNS_LIST:
        p, h = 'c%d_p1_' % c, '%d pubs, %d subs: ' % (c, PUB_SUBS)
        rows += [(p + 'subscribers', h + 'connected', ''),
                 (p + 'publishes_per_s', h + 'acked publishes/s', '+'),
                 (p + 'errors', h + 'errors', '-'),
                 (p + 'ack_p50_ms', h + 'ack p50 (ms)', '-'),
                 (p + 'ack_p99_ms', h + 'ack p99 (ms)', '-'),
                 (p + 'deliveries', h + 'deliveries', ''),
                 (p + 'missing', h + 'missing', '-'),
                 (p + 'duplicates', h + 'duplicates', '-'),
                 (p + 'out_of_order', h + 'out of order', '-'),
                 (p + 'ended', h + 'streams ended', '-'),
                 (p + 'drain_ms', h + 'all delivered after (ms)', '-'),
                 (p + 'p99_ms', h + 'publish->receive p99', '-'),
                 (p + 'same_p99_ms', h + 'p99 on node 1', '-'),
                 (p + 'other_p99_ms', h + 'p99 on node 2', '-'),
                 (p + 'hub_us_per_publish', h + 'hub CPU (us/publish)', '-'),
                 (p + 'redis_us_per_publish', h + 'redis CPU (us/publish)', '-'),
                 (p + 'total_us_per_publish', h + 'all CPU (us/publish)', '-'),
                 (p + 'machine_pct', h + 'machine busy (%)', '')]
    return rows


SCENARIO_TABLE = {
    'A': (
        lambda: '(A) fan-out: %d subscribers x %d updates/s for %d s (%d publishing conns)' % (
            FANOUT_SUBS, FANOUT_RATE, FANOUT_SECONDS, FANOUT_PUB_CONNS),
        [('connected', 'subscribers connected', ''),
         ('connect_ms', 'time to connect all (ms)', '-'),
         ('published', 'updates acknowledged', ''),
         ('publish_errors', 'publish errors', '-'),
         ('deliveries', 'deliveries', ''),
         ('deliveries_per_s', 'deliveries/s', '+'),
         ('latency_p50_ms', 'publish->receive p50 (ms)', '-'),
         ('latency_p90_ms', 'publish->receive p90 (ms)', '-'),
         ('latency_p99_ms', 'publish->receive p99 (ms)', '-'),
         ('latency_max_ms', 'publish->receive max (ms)', '-'),
         ('same_p50_ms', 'p50, subs on node 1 (ms)', '-'),
         ('same_p99_ms', 'p99, subs on node 1 (ms)', '-'),
         ('other_p50_ms', 'p50, subs on node 2 (ms)', '-'),
         ('other_p99_ms', 'p99, subs on node 2 (ms)', '-'),
         ('missing', 'missing', '-'),
         ('duplicates', 'duplicates', '-'),
         ('out_of_order', 'out of order', '-'),
         ('disconnected', 'streams ended by server', '-')]
        + CPU_ROWS('delivery') +
        [('fcgi_us_per_publish', 'hub.fcgi CPU (us/publish)', '-'),
         ('hub_cpu_pct', 'hub CPU (% of a core)', '-'),
         ('front_cpu_pct', 'front CPU (% of a core)', '-'),
         ('redis_cpu_pct', 'redis-server CPU (% of a core)', '-'),
         ('loadgen_cpu_pct', 'loadgen subs CPU (% of core)', ''),
         ('machine_pct', 'machine busy (% of all CPUs)', ''),
         ('ack_p99_ms', 'publish ack p99 (ms)', '-'),
         ('pub_lag_ms', 'publisher behind plan max(ms)', '-')]),
    'B': (
        lambda: ('(B) %d subscribers: %g updates/s for %g s, then the highest rate with zero '
                 'loss (steps of %g s)' % (BIG_SUBS, B_LAT_RATE, B_LAT_SECONDS, B_STEP_SECONDS)),
        [('connected', 'subscribers connected', ''),
         ('lat_deliveries_per_s', '%g/s: deliveries/s' % B_LAT_RATE, '+'),
         ('lat_p50_ms', '%g/s: publish->receive p50 (ms)' % B_LAT_RATE, '-'),
         ('lat_p90_ms', '%g/s: publish->receive p90 (ms)' % B_LAT_RATE, '-'),
         ('lat_p99_ms', '%g/s: publish->receive p99 (ms)' % B_LAT_RATE, '-'),
         ('lat_max_ms', '%g/s: publish->receive max (ms)' % B_LAT_RATE, '-'),
         ('lat_same_p50_ms', '%g/s: p50, subs on node 1 (ms)' % B_LAT_RATE, '-'),
         ('lat_same_p99_ms', '%g/s: p99, subs on node 1 (ms)' % B_LAT_RATE, '-'),
         ('lat_other_p50_ms', '%g/s: p50, subs on node 2 (ms)' % B_LAT_RATE, '-'),
         ('lat_other_p99_ms', '%g/s: p99, subs on node 2 (ms)' % B_LAT_RATE, '-'),
         ('lat_missing', '%g/s: missing' % B_LAT_RATE, '-'),
         ('lat_duplicates', '%g/s: duplicates' % B_LAT_RATE, '-'),
         ('lat_out_of_order', '%g/s: out of order' % B_LAT_RATE, '-'),
         ('lat_ended', '%g/s: streams ended by server' % B_LAT_RATE, '-')]
        + CPU_ROWS('delivery', 'lat_', '%g/s: ' % B_LAT_RATE) +
        [('lat_hub_cpu_pct', '%g/s: hub CPU (%% of a core)' % B_LAT_RATE, '-'),
         ('lat_front_cpu_pct', '%g/s: front CPU (%% of a core)' % B_LAT_RATE, '-'),
         ('lat_redis_cpu_pct', '%g/s: redis CPU (%% of a core)' % B_LAT_RATE, '-'),
         ('lat_loadgen_cpu_pct', '%g/s: loadgen subs (%% of core)' % B_LAT_RATE, ''),
         ('lat_machine_pct', '%g/s: machine busy (%% of all)' % B_LAT_RATE, ''),
         ('max_rate', 'max zero-loss rate (updates/s)', '+'),
         ('max_deliveries_per_s', 'max zero-loss deliveries/s', '+'),
         ('first_fail_rate', 'lowest failed rate (updates/s)', ''),
         ('best_measured_per_s', 'at max: measured deliveries/s', '+'),
         ('best_p99_ms', 'at max: p99 (ms)', '-'),
         ('best_hub_us_per_delivery', 'at max: hub CPU (us/delivery)', '-'),
         ('best_same_p99_ms', 'at max: p99, subs on node 1 (ms)', '-'),
         ('best_other_p99_ms', 'at max: p99, subs on node 2 (ms)', '-'),
         ('best_front_us_per_delivery', 'at max: front CPU (us/delivery)', '-'),
         ('best_redis_us_per_delivery', 'at max: redis CPU (us/delivery)', '-'),
         ('best_total_us_per_delivery', 'at max: all server CPU (us/dlv)', '-'),
         ('best_hub_cpu_pct', 'at max: hub CPU (% of a core)', ''),
         ('best_front_cpu_pct', 'at max: front CPU (% of a core)', ''),
         ('best_redis_cpu_pct', 'at max: redis CPU (% of a core)', ''),
         ('best_loadgen_cpu_pct', 'at max: loadgen subs (% of core)', ''),
         ('best_machine_pct', 'at max: machine busy (% of all)', ''),
         ('steps', 'ladder steps run', '')]),
    'C': (
        lambda: '(C) memory: %d idle subscribers' % BIG_SUBS,
        [('connected', 'subscribers connected', ''),
         ('failed', 'subscribers failed', '-'),
         ('streams', 'streams the hub holds', ''),
         ('connect_s', 'time to connect all (s)', '-'),
         ('hub_rss_before_kb', 'hub RSS before (KB)', '-'),
         ('hub_rss_after_kb', 'hub RSS after (KB)', '-'),
         ('hub_kb_per_sub', 'hub KB per subscriber', '-'),
         ('front_rss_before_kb', 'front RSS before (KB)', '-'),
         ('front_rss_after_kb', 'front RSS after (KB)', '-'),
         ('front_kb_per_sub', 'front KB per subscriber', '-'),
         ('total_kb_per_sub', 'all server KB per subscriber', '-'),
         ('hub_fds', 'hub open descriptors', '')]),
    'D': (
        lambda: ('(D) publish: %s closed-loop publishers for %g s each; with 0, then %d '
                 'subscribers' % (' and '.join(str(c) for c in PUB_CONNS_LIST), PUB_SECONDS,
                                  PUB_SUBS)),
        PUBLISH_ROWS()),
    'S': (
        lambda: ('(S) storm: %d idle subscribers (their CPU over %g s), all leave at once, '
                 'a second wave 5 s later' % (BIG_SUBS, STORM_IDLE_SECONDS)),
        [('connected', 'first wave connected', ''),
         ('idle_hub_cpu_s_per_hour', 'idle: hub CPU (s per hour)', '-'),
         ('idle_front_cpu_s_per_hour', 'idle: front CPU (s per hour)', '-'),
         ('idle_ms_per_stream_hour', 'idle: server CPU (ms/stream/hour)', '-'),
         ('idle_writes_per_stream_hour', 'idle: writes per stream per hour', '-'),
         ('front_fds_before', 'front descriptors before', ''),
         ('front_fds_peak', 'front descriptors with the wave', ''),
         ('streams_released_s', 'all leave: streams released (s)', '-'),
         ('front_fds_back_s', 'all leave: front fds back (s)', '-'),
         ('front_fds_at_5s', 'all leave: front fds after 5 s', '-'),
         ('wave2_held_5s', 'second wave: held after 5 s', '+'),
         ('wave2_all_s', 'second wave: all held after (s)', '-'),
         ('wave2_accepted', 'second wave: got a stream', '+'),
         ('wave2_failed', 'second wave: failed', '-'),
         ('site_ok', 'site / answered 200', ''),
         ('site_failed', 'site / failed or slow (> 2 s)', '-'),
         ('site_max_ms', 'site / slowest answer (ms)', '-')]),
    'E': (
        lambda: ('(E) replay: %d missed updates to one subscriber reconnecting with '
                 'Last-Event-ID (%d replays per round)' % (REPLAY_UPDATES, REPLAY_REPEATS)),
        [('acked', 'updates published', ''),
         ('fill_publishes_per_s', 'publishing them: publishes/s', '+'),
         ('replay_ms', 'connect -> last update (ms)', '-'),
         ('replay_best_ms', 'the same, best replay (ms)', '-'),
         ('first_event_ms', 'connect -> first update (ms)', '-'),
         ('replay_updates_per_s', 'replayed updates/s', '+'),
         ('replayed', 'updates received per replay', ''),
         ('replays_complete', 'complete replays', ''),
         ('missing', 'missing', '-'),
         ('duplicates', 'duplicates', '-'),
         ('out_of_order', 'out of order', '-'),
         ('hub_us_per_update', 'hub CPU (us/update)', '-'),
         ('total_us_per_update', 'all server CPU (us/update)', '-')]),
}

RUNNERS = [  # (group, function, scenarios it produces)
    ('A', scenario_fanout, ('A',)),
    ('BC', scenario_tenk, ('B', 'C')),
    ('D', scenario_publish, ('D',)),
    ('E', scenario_replay, ('E',)),
    ('S', scenario_storm, ('S',)),
]


def fmt(v):
    if v is None:
        return '-'
    if isinstance(v, int):
        return str(v)
    a = abs(v)
    if a >= 1000:
        return '%.0f' % v
    if a >= 100:
        return '%.1f' % v
    if a >= 1:
        return '%.2f' % v
    return '%.3f' % v


def median(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    m = statistics.median(vals)
    if all(isinstance(v, int) for v in vals) and m == int(m):
        return int(m)
    return m


LW = 40  # label width


def print_rounds(label, rows, results):
    """One target: a column per round and the median."""
    heads = ['round %d' % (i + 1) for i in range(len(results))]
    if len(results) > 1:
        heads.append('median')
    print('  %-*s' % (LW, '[%s]' % label) + ''.join('%10s' % h for h in heads))
    for key, text, _ in rows:
        vals = [r.get(key) if r else None for r in results]
        if all(v is None for v in vals):
            continue
        cells = [fmt(v) for v in vals]
        if len(results) > 1:
            cells.append(fmt(median(vals)))
        print('  %-*s' % (LW, text) + ''.join('%10s' % c for c in cells))


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return 1.0 if a == 0 else None
    return a / b


# Ratio columns: (target, reference, header, verdict if the target is
# better, verdict if the reference is): hubd against Nchan 1 worker, the
# Redis store against SQLite (the hubd target).
RATIOS = [('hubd', 'nchan1', 'hubd/N-1w', 'hubd', 'Nchan'),
          ('hubd-direct', 'nchan1', 'dir/N-1w', 'hubd', 'Nchan'),
          ('hubd-redis', 'hubd', 'r1n/hubd', 'redis', 'sqlite'),
          ('hubd-redis2', 'hubd', 'r2n/hubd', 'redis', 'sqlite')]


def print_side_by_side(rows, per_target):
    """The medians side by side, each hubd target / Nchan 1w and each Redis
    target / hubd (SQLite)."""
    names = [t for t in TARGETS if t in per_target]
    heads = [TARGET_LABEL.get(t, t) for t in names]
    ours = [x for x in RATIOS if x[0] in names and x[1] in names]
    print('  %-*s' % (LW, 'side by side (medians)') + ''.join('%10s' % h for h in heads) +
          ''.join('%12s %6s' % (x[2], 'better') for x in ours))
    for key, text, better in rows:
        meds = {t: median([r.get(key) if r else None for r in per_target[t]]) for t in names}
        if all(v is None for v in meds.values()):
            continue
        line = '  %-*s' % (LW, text + (' ' + better if better else '')) + \
            ''.join('%10s' % fmt(meds[t]) for t in names)
        for t, ref, _, win, lose in ours:
            q = ratio(meds[t], meds[ref])
            verdict = ''
            if better and q is not None and meds[t] != meds[ref]:
                # Within 5%: a draw (single rounds vary by far more).
                verdict = '~' if abs(q - 1) < 0.05 else \
                    win if (q > 1) == (better == '+') else lose
            line += '%12s %6s' % ('-' if q is None else 'x%s' % fmt(q), verdict)
        print(line)


def print_scenario(key, per_target):
    title, rows = SCENARIO_TABLE[key]
    print()
    print(title())
    for t in TARGETS:
        if t in per_target:
            print_rounds(TARGET_LABEL.get(t, t), rows, per_target[t])
    print_side_by_side(rows, per_target)
    notes = []
    for t in TARGETS:
        for r in per_target.get(t, []):
            for n in (r or {}).get('_notes', []):
                n = n if n.startswith('round') else '%s: %s' % (TARGET_LABEL.get(t, t), n)
                if n not in notes:
                    notes.append(n)
    for n in notes:
        print('  note: %s' % n)
    sys.stdout.flush()


def machine_line():
    try:
        with open('/proc/loadavg') as f:
            load = ' '.join(f.read().split()[:3])
    except OSError:
        load = '?'
    return '# %d CPUs, kernel %s, load average %s, %s' % (
        os.cpu_count() or 0, os.uname().release, load, time.strftime('%Y-%m-%d %H:%M:%S'))


def nginx_version():
    try:
        r = subprocess.run([NGINX, '-v'], capture_output=True, text=True, timeout=10)
        return (r.stderr or r.stdout).strip().replace('nginx version: ', '')
    except (OSError, subprocess.SubprocessError):
        return '?'


def redis_version():
    try:
        r = subprocess.run([REDIS_SERVER, '--version'], capture_output=True, text=True,
                           timeout=10)
        v = r.stdout.split()
        return 'redis-server ' + next((x[2:] for x in v if x.startswith('v=')), '?')
    except (OSError, subprocess.SubprocessError):
        return 'no redis-server'


def main():
    global LOADGEN
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix='hubd-bench-')
    procs = Procs()
    broken = False
    everything = {}
    try:
        LOADGEN = find_loadgen(tmp)
        print('# hubd benchmark%s: %d round(s); scenarios %s; targets %s' % (
            ' (quick)' if QUICK else '', ROUNDS, ','.join(SCENARIOS),
            ', '.join(TARGET_LABEL.get(t, t) for t in TARGETS)))
        print('# builddir %s; %s + %s; %s' % (BUILDDIR, nginx_version(),
                                              os.path.basename(NCHAN_MODULE), redis_version()))
        print(machine_line())
        print('# hub = hubd | the nginx workers; front = lighttpd (none for Nchan); '
              '"all" adds hub.fcgi')
        print('# better: + higher is better, - lower is better; hubd/N-1w = hubd median / '
              'Nchan 1 worker median')
        if any(t.startswith('hubd-redis') for t in TARGETS) or 'N' in SCENARIOS:
            print('# redis 1n / 2n = hubd --store redis, 1 / 2 nodes on one redis-server '
                  '(appendfsync always); r1n/hubd, r2n/hubd = their median / hubd (SQLite) '
                  'median; "all" adds redis-server')
        sys.stdout.flush()
        for bad in [t for t in TARGETS if t not in TARGET_LABEL]:
            print('# unknown target %r (known: %s)' % (bad, ', '.join(TARGET_LABEL)))
            broken = True
        targets = [t for t in TARGETS if t in TARGET_LABEL]
        if any(t.startswith('nchan') for t in targets) and (
                not os.access(NGINX, os.X_OK) or not os.path.exists(NCHAN_MODULE)):
            # Not a broken benchmark: the comparison is just not possible here.
            print('# nginx (%s) or the Nchan module (%s) is missing: the Nchan targets are '
                  'skipped (Debian: apt-get install nginx-light libnginx-mod-nchan)'
                  % (NGINX, NCHAN_MODULE))
            targets = [t for t in targets if not t.startswith('nchan')]
        if (any(t.startswith('hubd-redis') for t in targets) or 'N' in SCENARIOS) and \
                not os.access(REDIS_SERVER, os.X_OK):
            print('# %s is missing: the Redis targets and (N) are skipped (Debian: apt-get '
                  'install redis-server)' % REDIS_SERVER)
            targets = [t for t in targets if not t.startswith('hubd-redis')]
            SCENARIOS[:] = [x for x in SCENARIOS if x != 'N']
        for name in SCENARIOS:
            if name not in SCENARIO_TABLE and name not in ('matching', 'N'):
                print('# unknown scenario %r (known: A, B, C, D, E, S, N, matching)' % name)
                broken = True
        for group, fn, keys in RUNNERS:
            keys = [k for k in keys if k in SCENARIOS]
            if not keys:
                continue
            in_group = [t for t in targets if group in TARGET_GROUPS.get(t, (group,))]
            results = {k: {t: [] for t in in_group} for k in keys}
            state = {t: {} for t in in_group}
            for rnd in range(ROUNDS):
                for t in in_group:
                    if time.monotonic() - t_start > MAX_SECONDS:
                        NOTES.append('%s round %d %s skipped: past BENCH_MAX_SECONDS=%d' % (
                            group, rnd + 1, t, MAX_SECONDS))
                        r = None
                    else:
                        t0 = time.monotonic()
                        try:
                            r = fn(t, rnd, tmp, procs, state[t])
                        except Exception:
                            broken = True
                            print('# %s round %d %s failed:' % (group, rnd + 1, t))
                            for ln in traceback.format_exc().rstrip().splitlines():
                                print('#   ' + ln)
                            r = None
                        finally:
                            procs.stop_all()
                        print('# %s round %d %s: %.0f s' % (group, rnd + 1, t,
                                                             time.monotonic() - t0))
                        sys.stdout.flush()
                    for k in keys:
                        part = (r.get(k) if group == 'BC' else r) if r is not None else None
                        results[k][t].append(part)
            for k in keys:
                print_scenario(k, results[k])
                everything[k] = results[k]
        if 'N' in SCENARIOS:
            print('# (N) nodes: %s hubd nodes on one redis-server, %d rounds ...' % (
                ','.join(str(k) for k in NODES_LEVELS), ROUNDS))
            sys.stdout.flush()
            nres = []
            for rnd in range(ROUNDS):
                if time.monotonic() - t_start > MAX_SECONDS:
                    NOTES.append('N round %d skipped: past BENCH_MAX_SECONDS=%d' % (
                        rnd + 1, MAX_SECONDS))
                    nres.append(None)
                    continue
                r = scenario_nodes(rnd, tmp, procs)
                broken = broken or any(v is None for v in r.values())
                nres.append(r)
            print_nodes(nres)
            everything['N'] = nres
        if 'matching' in SCENARIOS:
            print('# (matching) hubd only: up to %d exact-topic subscribers, %d rounds ...' % (
                max(MATCH_LEVELS), ROUNDS))
            sys.stdout.flush()
            mres = []
            for rnd in range(ROUNDS):
                try:
                    mres.append(scenario_matching(rnd, tmp, procs))
                except Exception:
                    broken = True
                    print('# matching round %d failed:' % (rnd + 1))
                    for ln in traceback.format_exc().rstrip().splitlines():
                        print('#   ' + ln)
                    mres.append(None)
                finally:
                    procs.stop_all()
            print_matching(mres)
            everything['matching'] = mres
        print()
        for n in NOTES:
            print('# note: %s' % n)
        print('# total %.0f s' % (time.monotonic() - t_start))
        if os.environ.get('BENCH_JSON'):
            with open(os.environ['BENCH_JSON'], 'w') as f:
                json.dump({'rounds': ROUNDS, 'quick': QUICK, 'targets': targets,
                           'results': everything, 'notes': NOTES}, f, indent=1, default=str)
    finally:
        procs.stop_all()
        _stop_live_targets()
        harness._stop_all_stacks()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if broken else 0


LOADGEN = None

if __name__ == '__main__':
    sys.exit(main())
