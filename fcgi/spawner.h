/* spawner.h -- who started hub.fcgi, for refusing the one web-server
 * module that cannot carry hubd's streams (Apache mod_fcgid). */
#ifndef HUBD_SPAWNER_H
#define HUBD_SPAWNER_H

#include <stdbool.h>

/* True when this FastCGI process was spawned by an Apache process: the
 * parent's command name is apache2 or httpd. Apache's supported FastCGI
 * front (mod_proxy_fcgi) never spawns its backends, while mod_fcgid does,
 * and mod_fcgid counts a process busy for as long as its response lasts:
 * one hub.fcgi per open stream, until FcgidMaxProcesses makes the next
 * request wait. Reads /proc; false when it cannot tell. Never fails. */
bool spawner_is_apache(void);

/* The text hub.fcgi answers with (500) and logs once when it runs under
 * mod_fcgid. */
#define SPAWNER_MOD_FCGID_ERROR                                              \
	"hub.fcgi does not run under Apache mod_fcgid: mod_fcgid ties one "  \
	"hub.fcgi process to every open stream. Run hub.fcgi as its own "    \
	"FastCGI server and reach it with mod_proxy_fcgi "                   \
	"(contrib/apache/hubd.conf, doc/web-server-apache.md)."

#endif
