/* log.h -- hubd's log: one line per event on stderr, with a level and a
 * timestamp. Control characters in the formatted text are escaped so that
 * input cannot forge log lines. Thread-safe (one write(2) per line). */
#ifndef HUBD_LOG_H
#define HUBD_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Lines above this level are dropped. Default LOG_INFO. */
void log_set_level(int level);
int log_level_from_name(const char *name); /* -1 when unknown */

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Logs at LOG_ERROR and exits(1). For start-up and broken invariants only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
