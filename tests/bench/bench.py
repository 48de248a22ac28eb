"""bench.py -- the hubd benchmark (make bench): fan-out, memory per idle subscriber, publish rate,
and (on request) the subscribe-side matching cost per publish.

Starts the real stack (hubd behind lighttpd with hub.fcgi, through
tests/integration/harness.py) once per scenario and round, drives it with
tests/bench/loadgen, and prints a table of figures with the median of the
rounds. It measures; it never asserts. The exit status is 1 only when a
round could not be run at all (the benchmark itself is broken).

Environment (all optional):
    HUBD_BUILDDIR, HUBD_SRCDIR  build and source trees (as for the tests)
    BENCH_QUICK=1               short smoke run (~30 s) with small numbers
    BENCH_ROUNDS                rounds per scenario (default 3, quick 1)
    BENCH_SCENARIOS             comma list of fanout,idle,publish,matching
                                (default fanout,idle,publish)
    BENCH_FANOUT_SUBS           (1) subscribers (default 1000)
    BENCH_FANOUT_RATE           (1) updates per second (default 100)
    BENCH_FANOUT_SECONDS        (1) seconds of publishing (default 10)
    BENCH_FANOUT_PUB_CONNS      (1) publishing connections (default 16)
    BENCH_IDLE_SUBS             (2) idle subscribers (default 5000)
    BENCH_PUB_CONNS             (3) closed-loop publishers (default 8)
    BENCH_PUB_SECONDS           (3) seconds (default 10)
    BENCH_MATCHING_LEVELS       (4) exact-topic subscriber counts (default 0,1,1000,5000,10000)
    BENCH_MATCHING_TEMPLATES    (4) template subscribers (default 100)
    BENCH_MATCHING_PUBLISHES    (4) publishes per batch (default 2000)
    BENCH_MATCHING_PUB_CONNS    (4) publishing connections (default 4)
    BENCH_MATCHING_RATE         (4) publishes/s, 0 = closed loop (default 0)
    BENCH_MATCHING_HIT=1        (4) also a batch with templates that match every update
    BENCH_STREAMS_PER_FRONT     (4) streams per lighttpd before another is started (6000)
    BENCH_SUBS_PER_PROC         subscribers per loadgen process (default 4000, quick 250)
    BENCH_JSON=PATH             also write every raw result there as JSON
    BENCH_HUBD_ARGS             extra hubd options for every run, e.g. '--sync normal'
    LOADGEN                     a prebuilt loadgen binary to use
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
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
from harness import Stack, stop_process, child_pids  # noqa: E402

HUB_PATH = '/.well-known/mercure'
QUICK = os.environ.get('BENCH_QUICK', '') not in ('', '0', 'no')


def env_int(name, default, quick):
    v = os.environ.get(name)
    return int(v) if v else (quick if QUICK else default)


HUBD_ARGS = tuple(os.environ.get('BENCH_HUBD_ARGS', '').split())

ROUNDS = env_int('BENCH_ROUNDS', 3, 1)
FANOUT_SUBS = env_int('BENCH_FANOUT_SUBS', 1000, 100)
FANOUT_RATE = env_int('BENCH_FANOUT_RATE', 100, 50)
FANOUT_SECONDS = env_int('BENCH_FANOUT_SECONDS', 10, 3)
FANOUT_PUB_CONNS = env_int('BENCH_FANOUT_PUB_CONNS', 16, 16)
IDLE_SUBS = env_int('BENCH_IDLE_SUBS', 5000, 500)
PUB_CONNS = env_int('BENCH_PUB_CONNS', 8, 8)
PUB_SECONDS = env_int('BENCH_PUB_SECONDS', 10, 3)
SUBS_PER_PROC = env_int('BENCH_SUBS_PER_PROC', 4000, 250)
SCENARIOS = [x.strip() for x in
             os.environ.get('BENCH_SCENARIOS', 'fanout,idle,publish').split(',') if x.strip()]
CLK_TCK = os.sysconf('SC_CLK_TCK')


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


class Subscribers:
    """A group of loadgen subscribe processes, SUBS_PER_PROC each at most,
    each on its own 127.0.0.x source addresses."""

    def __init__(self, procs, tmp, tag, url, topic, count, duration, expect=0):
        nproc = max(1, -(-count // SUBS_PER_PROC))
        self.groups = []
        for k in range(nproc):
            n = count // nproc + (1 if k < count % nproc else 0)
            base = os.path.join(tmp, '%s-%d' % (tag, k))
            argv = [LOADGEN, 'subscribe', '--url', url, '--topic', topic,
                    '--count', str(n), '--source', ','.join(next_sources(2)),
                    '--duration', str(duration), '--ready-file', base + '.ready', '--hist']
            if expect:
                argv += ['--expect', str(expect)]
            p = procs.start(argv, base + '.out', base + '.err')
            self.groups.append({'proc': p, 'base': base})

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

    def finish(self):
        """Stops the processes (SIGTERM makes them report) and merges the reports."""
        for g in self.groups:
            stop_process(g['proc'], 10)
        reports = [read_report(g['base'] + '.out', g['base'] + '.err') for g in self.groups]
        return merge_subscribe(reports)


def merge_subscribe(reports):
    errors = [r['error'] for r in reports if 'error' in r]
    reports = [r for r in reports if 'error' not in r]
    m = {'processes': len(reports) + len(errors)}
    if errors:
        m['error'] = '; '.join(errors)
    if not reports:
        return m
    for k in ('requested', 'connected', 'failed', 'disconnected', 'deliveries', 'missing',
              'duplicates', 'out_of_order', 'other_events', 'bytes'):
        m[k] = sum(r[k] for r in reports)
    m['deliveries_per_s'] = sum(r['deliveries_per_s'] for r in reports)
    m['cpu_pct'] = sum(100.0 * r['cpu_s'] / r['elapsed_s'] for r in reports if r['elapsed_s'] > 0)
    m['connect_ms'] = max(r['connect_ms'] for r in reports)
    m['connect_p99_ms'] = max(r['connect_p99_ms'] for r in reports)
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


def run_publisher(procs, tmp, tag, url, token, seconds, conns, rate=None):
    base = os.path.join(tmp, tag)
    argv = [LOADGEN, 'publish', '--url', url, '--topic', TOPIC, '--token', token,
            '--duration', str(seconds), '--conns', str(conns)]
    argv += ['--rate', str(rate)] if rate else ['--closed-loop']
    p = procs.start(argv, base + '.out', base + '.err')
    try:
        p.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        stop_process(p, 5)
    return read_report(base + '.out', base + '.err')


# ---- what the stack's processes use --------------------------------------------

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


def fcgi_pids(s):
    return sorted(set(s.fcgi_pids) | set(child_pids(s.lighttpd_pid)))


def cpu_snapshot(s):
    """CPU seconds used so far by hubd, lighttpd and the hub.fcgi processes."""
    fc = {pid: cpu_seconds(pid) for pid in fcgi_pids(s)}
    return {'hubd': cpu_seconds(s.hubd_pid), 'lighttpd': cpu_seconds(s.lighttpd_pid),
            'fcgi': fc, 't': time.monotonic()}


def cpu_delta(a, b):
    """CPU seconds between two snapshots, per process group."""
    d = {}
    for k in ('hubd', 'lighttpd'):
        d[k] = b[k] - a[k] if a[k] is not None and b[k] is not None else None
    # lighttpd may still be spawning hub.fcgi processes at the first
    # snapshot: one that appeared since counts from zero.
    d['fcgi'] = sum(b['fcgi'][p] - (a['fcgi'].get(p) or 0) for p in b['fcgi']
                    if b['fcgi'][p] is not None)
    d['wall'] = b['t'] - a['t']
    return d


def per_unit_us(seconds, units):
    if seconds is None or not units:
        return None
    return seconds * 1e6 / units


def percent(seconds, wall):
    if seconds is None or not wall:
        return None
    return 100.0 * seconds / wall


# ---- scenarios ------------------------------------------------------------------

TOPIC = 'https://bench.example/updates'


def scenario_fanout(rnd, tmp, procs):
    """(1) FANOUT_SUBS subscribers, FANOUT_RATE updates/s for FANOUT_SECONDS."""
    total = FANOUT_RATE * FANOUT_SECONDS
    with Stack(extra_hubd_args=HUBD_ARGS) as s:
        url = s.base_url + HUB_PATH
        subs = Subscribers(procs, tmp, 'fanout%d' % rnd, url, TOPIC, FANOUT_SUBS,
                           duration=FANOUT_SECONDS + 90, expect=total)
        connected, failed = subs.wait_ready(60)
        c0 = cpu_snapshot(s)
        pub = run_publisher(procs, tmp, 'fanout%d-pub' % rnd, url, s.token(publish=['*']),
                            FANOUT_SECONDS, FANOUT_PUB_CONNS, rate=FANOUT_RATE)
        # Subscribers leave by themselves once they hold every update; give
        # the stragglers a few seconds after the last publish.
        subs.wait_exit(5)
        c1 = cpu_snapshot(s)
        sub = subs.finish()
    cpu = cpu_delta(c0, c1)
    dl = sub.get('deliveries', 0)
    # Subscribers count missing against --expect (every update scheduled);
    # updates the publisher never got acknowledged are not the hub's loss.
    missing = sub.get('missing')
    if missing is not None and pub.get('acked') is not None:
        missing = max(0, missing - (total - pub['acked']) * (sub.get('connected') or 0))
    return {
        'connected': sub.get('connected'),
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
        'hubd_us_per_delivery': per_unit_us(cpu['hubd'], dl),
        'lighttpd_us_per_delivery': per_unit_us(cpu['lighttpd'], dl),
        'fcgi_us_per_publish': per_unit_us(cpu['fcgi'], pub.get('acked')),
        'hubd_cpu_pct': percent(cpu['hubd'], cpu['wall']),
        'lighttpd_cpu_pct': percent(cpu['lighttpd'], cpu['wall']),
        'ack_p99_ms': pub.get('ack_p99_ms'),
        'pub_lag_ms': pub.get('schedule_lag_max_ms'),
        'loadgen_cpu_pct': sub.get('cpu_pct'),
        '_ready': [connected, failed],
        '_sub': sub, '_pub': pub, '_cpu': cpu,
        '_notes': [x for x in (sub.get('error'), sub.get('first_error'), pub.get('error'),
                               pub.get('first_error')) if x],
    }


def scenario_idle(rnd, tmp, procs):
    """(2) RSS of hubd and lighttpd before and after IDLE_SUBS idle subscribers."""
    with Stack(extra_hubd_args=HUBD_ARGS) as s:
        s.check_pubsub()  # warm up: store, first subscriber, first publish
        time.sleep(0.3)
        before = {'hubd': rss_kb(s.hubd_pid), 'lighttpd': rss_kb(s.lighttpd_pid)}
        subs = Subscribers(procs, tmp, 'idle%d' % rnd, s.base_url + HUB_PATH, TOPIC,
                           IDLE_SUBS, duration=180)
        connected, failed = subs.wait_ready(120)
        time.sleep(1.0)  # let the last handovers finish
        after = {'hubd': rss_kb(s.hubd_pid), 'lighttpd': rss_kb(s.lighttpd_pid)}
        hubd_fds = len(os.listdir('/proc/%d/fd' % s.hubd_pid))
        sub = subs.finish()
    n = connected or None

    def per_sub(k):
        if before[k] is None or after[k] is None or not n:
            return None
        return (after[k] - before[k]) / n
    return {
        'connected': connected,
        'failed': failed,
        'connect_ms': sub.get('connect_ms'),
        'connect_p99_ms': sub.get('connect_p99_ms'),
        'hubd_rss_before_kb': before['hubd'],
        'hubd_rss_after_kb': after['hubd'],
        'hubd_kb_per_sub': per_sub('hubd'),
        'lighttpd_rss_before_kb': before['lighttpd'],
        'lighttpd_rss_after_kb': after['lighttpd'],
        'lighttpd_kb_per_sub': per_sub('lighttpd'),
        'hubd_fds': hubd_fds,
        '_sub': sub,
        '_notes': [x for x in (sub.get('error'), sub.get('first_error')) if x],
    }


def scenario_publish(rnd, tmp, procs):
    """(3) PUB_CONNS closed-loop publishers for PUB_SECONDS, no subscribers."""
    with Stack(extra_hubd_args=HUBD_ARGS) as s:
        c0 = cpu_snapshot(s)
        pub = run_publisher(procs, tmp, 'publish%d' % rnd, s.base_url + HUB_PATH,
                            s.token(publish=['*']), PUB_SECONDS, PUB_CONNS)
        c1 = cpu_snapshot(s)
    cpu = cpu_delta(c0, c1)
    acked = pub.get('acked')
    return {
        'publishes_per_s': pub.get('publishes_per_s'),
        'acked': acked,
        'errors': pub.get('errors'),
        'ack_p50_ms': pub.get('ack_p50_ms'),
        'ack_p99_ms': pub.get('ack_p99_ms'),
        'ack_max_ms': pub.get('ack_max_ms'),
        'hubd_us_per_publish': per_unit_us(cpu['hubd'], acked),
        'lighttpd_us_per_publish': per_unit_us(cpu['lighttpd'], acked),
        'fcgi_us_per_publish': per_unit_us(cpu['fcgi'], acked),
        'hubd_cpu_pct': percent(cpu['hubd'], cpu['wall']),
        '_pub': pub, '_cpu': cpu,
        '_notes': [x for x in (pub.get('error'), pub.get('first_error')) if x],
    }


# ---- (4) matching: subscribe-side matching cost per publish -------------------
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


class Front:
    """One more lighttpd (with its own hub.fcgi processes) in front of a
    Stack's hubd, on its own port: the stack's config in another directory."""

    def __init__(self, s, k):
        self.proc = None
        self.kids = []
        d = os.path.join(s.tmpdir, 'front%d' % k)
        os.mkdir(d)
        for _ in range(5):
            port = harness.free_port('127.0.0.1')
            conf = harness.LIGHTTPD_CONF.format(
                docroot=s.docroot, bind='127.0.0.1', port=port, tmpdir=d,
                max_fds=s.max_fds, max_conns=max(16, s.max_fds // 2 - 16),
                hub_path=HUB_PATH, hub_fcgi=harness.program('fcgi/hub.fcgi'),
                bin_env='"HUBD_SOCKET" => "%s"' % s.socket_path, max_procs=s.max_procs)
            path = os.path.join(d, 'lighttpd.conf')
            with open(path, 'w') as f:
                f.write(conf)
            with open(os.path.join(d, 'lighttpd.out'), 'ab') as log:
                self.proc = subprocess.Popen([harness.lighttpd_binary(), '-D', '-f', path],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=1).close()
                except OSError:
                    time.sleep(0.05)
                    continue
                self.url = 'http://127.0.0.1:%d%s' % (port, HUB_PATH)
                self.kids = child_pids(self.proc.pid)
                return
            self.stop()
        raise RuntimeError('an extra lighttpd front-end did not start (see %s)' % d)

    def stop(self):
        """Stops lighttpd and its hub.fcgi processes, by pid."""
        if self.proc is None:
            return
        kids = set(self.kids) | set(child_pids(self.proc.pid))
        stop_process(self.proc, 10)
        self.proc = None
        for pid in kids:
            if harness.pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for pid in kids:
            deadline = time.monotonic() + 5
            while harness.pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if harness.pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


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
    """(4) hubd CPU per publish as exact-topic subscribers grow (MATCH_LEVELS)
    and shrink again, with and without template subscribers."""
    top = max(MATCH_LEVELS)
    nfront = max(1, -(-(top + MATCH_TEMPLATES) // STREAMS_PER_FRONT))
    per_front = max(1, -(-top // nfront))
    batches, levels, notes, reports = {}, {}, [], []
    fronts = []
    with Stack(heartbeat=MATCH_HEARTBEAT, extra_hubd_args=HUBD_ARGS) as s:
        try:
            urls = [s.base_url + HUB_PATH]
            for k in range(1, nfront):
                fronts.append(Front(s, k))
                urls.append(fronts[-1].url)
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
        finally:
            for fr in fronts:
                fr.stop()
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
    print('(4) matching: hubd CPU per publish as exact-topic subscribers grow')
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

SCENARIO_TABLE = {
    'fanout': (
        scenario_fanout,
        lambda: '(1) fan-out: %d subscribers x %d updates/s for %d s (%d publishing conns)' % (
            FANOUT_SUBS, FANOUT_RATE, FANOUT_SECONDS, FANOUT_PUB_CONNS),
        [('connected', 'subscribers connected'),
         ('connect_ms', 'time to connect all (ms)'),
         ('published', 'updates acknowledged'),
         ('publish_errors', 'publish errors'),
         ('deliveries', 'deliveries'),
         ('deliveries_per_s', 'deliveries/s'),
         ('latency_p50_ms', 'publish->receive p50 (ms)'),
         ('latency_p90_ms', 'publish->receive p90 (ms)'),
         ('latency_p99_ms', 'publish->receive p99 (ms)'),
         ('latency_max_ms', 'publish->receive max (ms)'),
         ('missing', 'missing'),
         ('duplicates', 'duplicates'),
         ('out_of_order', 'out of order'),
         ('disconnected', 'streams ended by server'),
         ('hubd_us_per_delivery', 'hubd CPU (us/delivery)'),
         ('lighttpd_us_per_delivery', 'lighttpd CPU (us/delivery)'),
         ('fcgi_us_per_publish', 'hub.fcgi CPU (us/publish)'),
         ('hubd_cpu_pct', 'hubd CPU (% of a core)'),
         ('lighttpd_cpu_pct', 'lighttpd CPU (% of a core)'),
         ('loadgen_cpu_pct', 'loadgen subs CPU (% of core)'),
         ('ack_p99_ms', 'publish ack p99 (ms)'),
         ('pub_lag_ms', 'publisher behind plan max(ms)')]),
    'idle': (
        scenario_idle,
        lambda: '(2) memory: %d idle subscribers' % IDLE_SUBS,
        [('connected', 'subscribers connected'),
         ('failed', 'subscribers failed'),
         ('connect_ms', 'time to connect all (ms)'),
         ('connect_p99_ms', 'one connect p99 (ms)'),
         ('hubd_rss_before_kb', 'hubd RSS before (KB)'),
         ('hubd_rss_after_kb', 'hubd RSS after (KB)'),
         ('hubd_kb_per_sub', 'hubd KB per subscriber'),
         ('lighttpd_rss_before_kb', 'lighttpd RSS before (KB)'),
         ('lighttpd_rss_after_kb', 'lighttpd RSS after (KB)'),
         ('lighttpd_kb_per_sub', 'lighttpd KB per subscriber'),
         ('hubd_fds', 'hubd open descriptors')]),
    'publish': (
        scenario_publish,
        lambda: '(3) publish: %d closed-loop publishers for %d s, no subscribers' % (
            PUB_CONNS, PUB_SECONDS),
        [('publishes_per_s', 'acknowledged publishes/s'),
         ('acked', 'publishes acknowledged'),
         ('errors', 'errors'),
         ('ack_p50_ms', 'ack p50 (ms)'),
         ('ack_p99_ms', 'ack p99 (ms)'),
         ('ack_max_ms', 'ack max (ms)'),
         ('hubd_us_per_publish', 'hubd CPU (us/publish)'),
         ('lighttpd_us_per_publish', 'lighttpd CPU (us/publish)'),
         ('fcgi_us_per_publish', 'hub.fcgi CPU (us/publish)'),
         ('hubd_cpu_pct', 'hubd CPU (% of a core)')]),
    # Not in the default set (about 1.5-2 minutes): BENCH_SCENARIOS=matching.
    # Its own table (print_matching), hence no rows.
    'matching': (
        scenario_matching,
        None,
        None),
}


# ---- output ---------------------------------------------------------------------

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


def print_table(title, rows, results):
    print()
    print(title)
    heads = ['round %d' % (i + 1) for i in range(len(results))]
    if len(results) > 1:
        heads.append('median')
    print('  %-30s' % 'figure' + ''.join('%12s' % h for h in heads))
    for key, label in rows:
        vals = [r.get(key) if r else None for r in results]
        cells = [fmt(v) for v in vals]
        if len(results) > 1:
            cells.append(fmt(median(vals)))
        print('  %-30s' % label + ''.join('%12s' % c for c in cells))
    notes = set()
    for r in results:
        if r:
            notes.update(r.get('_notes', []))
    for n in sorted(notes):
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


def main():
    global LOADGEN
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix='hubd-bench-')
    procs = Procs()
    broken = False
    everything = {}
    try:
        LOADGEN = find_loadgen(tmp)
        print('# hubd benchmark%s: %d round(s) per scenario; builddir %s' % (
            ' (quick)' if QUICK else '', ROUNDS, BUILDDIR))
        print(machine_line())
        print('# figures are measured, not checked; compare medians between runs on one machine')
        sys.stdout.flush()
        for name in SCENARIOS:
            if name not in SCENARIO_TABLE:
                print('# unknown scenario %r (known: %s)' % (name, ', '.join(SCENARIO_TABLE)))
                broken = True
                continue
            fn, title, rows = SCENARIO_TABLE[name]
            if name == 'matching':
                print('# (4) matching: up to %d exact-topic subscribers, %d rounds ...' % (
                    max(MATCH_LEVELS), ROUNDS))
                sys.stdout.flush()
            results = []
            for rnd in range(ROUNDS):
                t0 = time.monotonic()
                try:
                    r = fn(rnd, tmp, procs)
                except Exception:
                    broken = True
                    print('# %s round %d failed:' % (name, rnd + 1))
                    for ln in traceback.format_exc().rstrip().splitlines():
                        print('#   ' + ln)
                    r = None
                finally:
                    procs.stop_all()
                if r is not None:
                    r['_seconds'] = time.monotonic() - t0
                results.append(r)
                sys.stdout.flush()
            if rows is None:
                print_matching(results)
            else:
                print_table(title(), rows, results)
            everything[name] = results
        print()
        print('# total %.0f s' % (time.monotonic() - t_start))
        if os.environ.get('BENCH_JSON'):
            with open(os.environ['BENCH_JSON'], 'w') as f:
                json.dump({'rounds': ROUNDS, 'quick': QUICK, 'results': everything}, f,
                          indent=1, default=str)
    finally:
        procs.stop_all()
        harness._stop_all_stacks()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if broken else 0


LOADGEN = None

if __name__ == '__main__':
    sys.exit(main())
