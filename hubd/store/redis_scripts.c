/* redis_scripts.c -- the Redis store's Lua scripts (redis_scripts.h). */
#include "config.h"

#include "redis_scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Retention, shared by the publish and retain scripts: removes entries
 * (and their ids) past the count, then those older than the age (by the
 * entry id's time, Redis's clock), at most 1000 a run; notes the newest
 * removed in meta's "trimmed". retain() returns the entries kept; removed
 * counts the entries it removed. */
#define RETAIN_LUA                                                               \
	"local removed = 0\n"                                                   \
	"local function drop(es)\n"                                             \
	"  removed = removed + #es\n"                                           \
	"  for _, e in ipairs(es) do\n"                                         \
	"    local f = e[2]\n"                                                  \
	"    for i = 1, #f, 2 do\n"                                             \
	"      if f[i] == 'i' then redis.call('HDEL', ids, f[i + 1]) end\n"     \
	"    end\n"                                                             \
	"    redis.call('XDEL', log, e[1])\n"                                   \
	"    redis.call('HSET', meta, 'trimmed', e[1])\n"                       \
	"  end\n"                                                               \
	"end\n"                                                                 \
	"local function retain(count, age)\n"                                   \
	"  if count > 0 then\n"                                                 \
	"    local over = redis.call('XLEN', log) - count\n"                   \
	"    if over > 0 then\n"                                                \
	"      drop(redis.call('XRANGE', log, '-', '+', 'COUNT', math.min(over, 1000)))\n" \
	"    end\n"                                                             \
	"  end\n"                                                               \
	"  if age > 0 then\n"                                                   \
	"    local t = redis.call('TIME')\n"                                    \
	"    local cut = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - age\n" \
	"    if cut > 0 then\n"                                                 \
	"      drop(redis.call('XRANGE', log, '-', '(' .. string.format('%d', cut) .. '-0', 'COUNT', 1000))\n" \
	"    end\n"                                                             \
	"  end\n"                                                               \
	"  return redis.call('XLEN', log)\n"                                    \
	"end\n"

const char redis_script_publish[] =
	"local log, ids, meta = KEYS[1], KEYS[2], KEYS[3]\n"
	RETAIN_LUA
	"redis.call('HSETNX', meta, 'epoch', ARGV[6])\n"
	"local old = redis.call('HGET', ids, ARGV[1])\n"
	"if old then\n"
	"  local e = redis.call('XRANGE', log, old, old)\n"
	"  if #e == 1 then\n"
	"    local f = e[1][2]\n"
	"    for i = 1, #f, 2 do\n"
	"      if f[i] == 'c' then\n"
	"        if f[i + 1] == ARGV[2] then return {'dup', old} end\n"
	"        return {'conflict', old}\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"  redis.call('HDEL', ids, ARGV[1])\n" /* an id whose entry is gone */
	"end\n"
	"local eid = redis.call('XADD', log, '*', 'i', ARGV[1], 'c', ARGV[2], 'ms', ARGV[3])\n"
	"redis.call('HSET', ids, ARGV[1], eid)\n"
	"local kept = retain(tonumber(ARGV[4]), tonumber(ARGV[5]))\n"
	"return {'ok', eid, kept, removed}\n";

const char redis_script_read[] =
	"redis.call('HSETNX', KEYS[2], 'epoch', ARGV[3])\n"
	"local m = redis.call('HMGET', KEYS[2], 'epoch', 'trimmed')\n"
	"return {m[1], m[2] or '', redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}\n";

const char redis_script_query[] =
	"local start, found, named = '(' .. ARGV[2], 1, ''\n"
	"if ARGV[1] ~= '' then\n"
	"  local e = redis.call('HGET', KEYS[2], ARGV[1])\n"
	"  if e then start, named = '(' .. e, e else start, found = '-', 0 end\n"
	"end\n"
	"return {found, redis.call('XRANGE', KEYS[1], start, ARGV[3], 'COUNT', ARGV[4]), named}\n";

const char redis_script_retain[] =
	"local log, ids, meta = KEYS[1], KEYS[2], KEYS[3]\n"
	RETAIN_LUA
	"local kept = retain(tonumber(ARGV[1]), tonumber(ARGV[2]))\n"
	"return {kept, removed}\n";

void redis_script_sha1(const char *script, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (!EVP_Digest(script, strlen(script), md, &n, EVP_sha1(), NULL) || n != 20) {
		fprintf(stderr, "hubd: SHA1 is unavailable\n");
		abort();
	}
	for (unsigned int i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}
