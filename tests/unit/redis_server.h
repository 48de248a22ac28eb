/* redis_server.h -- a real redis-server for unit tests: started on a free
 * loopback port in a temporary folder (append-only file, fsync always),
 * stopped by pid and removed at exit; redis_stop / redis_start stop it
 * and start it again on the same port and folder; redis_replica_start
 * gives it a replica (for WAIT). run() sends the test's
 * own commands. Header-only (static), after testlib.h. */
#ifndef HUBD_REDIS_SERVER_H
#define HUBD_REDIS_SERVER_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "testlib.h"
#include "util.h"

#define REDIS_SERVER "/usr/bin/redis-server"
#define REDIS_WAIT_MS 10000

static pid_t redis_pid;
static int redis_port;
static char redis_dir[256];
static char redis_addr[64];

/* ---- the server --------------------------------------------------------- */

static inline int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("free_port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

/* A blocking connection for the test's own commands, or NULL. */
static inline redisContext *admin(void)
{
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* Runs a command (printf-style, as redisCommand) and returns its integer
 * answer, or -1; a string answer is copied into out when given. */
static inline long long run(char *out, size_t outlen, const char *fmt, ...)
{
	redisContext *c = admin();
	long long v = -1;
	if (!c)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (r && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	if (r && out && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
		snprintf(out, outlen, "%s", r->str);
		v = 0;
	}
	freeReplyObject(r);
	redisFree(c);
	return v;
}

/* Starts a redis-server on port in folder; a replica of the server on
 * port `of` when of > 0. */
static inline pid_t redis_spawn(int port, const char *folder, int of)
{
	char p[16], master[32];
	snprintf(p, sizeof p, "%d", port);
	snprintf(master, sizeof master, "127.0.0.1 %d", of);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execl(REDIS_SERVER, REDIS_SERVER, "--port", p, "--bind", "127.0.0.1", "--save", "",
		      "--appendonly", "yes", "--appendfsync", "always", "--dir", folder,
		      "--daemonize", "no", "--repl-diskless-sync-delay", "0",
		      of > 0 ? "--replicaof" : (char *)NULL, master,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Sends sig (SIGTERM: a clean shutdown, SIGKILL: a crash), then SIGKILL
 * after 5 s; reaps the process. */
static inline void stop_pid(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	int64_t end = mono_ms() + 5000;
	int st;
	while (waitpid(*pid, &st, WNOHANG) == 0) {
		if (mono_ms() >= end) {
			kill(*pid, SIGKILL);
			while (waitpid(*pid, &st, 0) < 0 && errno == EINTR)
				;
			break;
		}
		usleep(10000);
	}
	*pid = 0;
}

static pid_t replica_pid;

/* Starts a replica of the server and waits until the server counts it. */
static inline bool redis_replica_start(void)
{
	char folder[300];
	snprintf(folder, sizeof folder, "%s/replica", redis_dir);
	mkdir(folder, 0700);
	replica_pid = redis_spawn(free_port(), folder, redis_port);
	int64_t end = mono_ms() + REDIS_WAIT_MS;
	char info[4096] = "";
	while (mono_ms() < end) {
		if (run(info, sizeof info, "INFO replication") == 0 &&
		    strstr(info, "connected_slaves:1") && strstr(info, "state=online"))
			return true;
		usleep(20000);
	}
	return false;
}

/* The replica crashes (SIGKILL). */
static inline void redis_replica_stop(void)
{
	stop_pid(&replica_pid, SIGKILL);
}

static inline void redis_start(void)
{
	redis_pid = redis_spawn(redis_port, redis_dir, 0);
	int64_t end = mono_ms() + REDIS_WAIT_MS;
	char pong[16] = "";
	while (mono_ms() < end && (run(pong, sizeof pong, "PING") < 0 || strcmp(pong, "PONG")))
		usleep(20000);
	if (strcmp(pong, "PONG") != 0) {
		fprintf(stderr, "redis-server did not start on port %d\n", redis_port);
		kill(redis_pid, SIGKILL);
		exit(1);
	}
}

static inline void redis_stop(void)
{
	stop_pid(&redis_pid, SIGTERM);
}

static inline bool redis_server_installed(void)
{
	return access(REDIS_SERVER, X_OK) == 0;
}

static inline void redis_server_cleanup(void)
{
	redis_replica_stop();
	redis_stop();
	char p[400];
	snprintf(p, sizeof p, "rm -rf '%s'", redis_dir);
	if (system(p) != 0)
		fprintf(stderr, "cannot remove %s\n", redis_dir);
}

/* Starts the server (exit 1 when it does not come up); it is stopped and
 * its folder removed at exit. */
static inline void redis_server_begin(void)
{
	test_make_dir(redis_dir, sizeof redis_dir, "redis");
	redis_port = free_port();
	snprintf(redis_addr, sizeof redis_addr, "127.0.0.1:%d", redis_port);
	redis_start();
	atexit(redis_server_cleanup);
}

#endif
