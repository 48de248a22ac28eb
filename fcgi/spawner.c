/* spawner.c -- who started hub.fcgi (see spawner.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "spawner.h"

bool spawner_is_apache(void)
{
	char path[64], comm[64];
	snprintf(path, sizeof path, "/proc/%ld/comm", (long)getppid());
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(comm, sizeof comm, f) != NULL;
	fclose(f);
	if (!ok)
		return false;
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "apache2") == 0 || strcmp(comm, "httpd") == 0;
}
