/* unicode.c -- the general category Cf (see unicode.h). */
#include "config.h"

#include "unicode.h"

#include <stddef.h>

/* Every Cf range of Unicode 15.0 (DerivedGeneralCategory.txt), in order. */
static const struct {
	uint32_t lo, hi;
} format_ranges[] = {
	{0x00ad, 0x00ad},   {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},
	{0x070f, 0x070f},   {0x0890, 0x0891},   {0x08e2, 0x08e2},   {0x180e, 0x180e},
	{0x200b, 0x200f},   {0x202a, 0x202e},   {0x2060, 0x2064},   {0x2066, 0x206f},
	{0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
	{0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe0001},
	{0xe0020, 0xe007f},
};

bool unicode_is_format(uint32_t c)
{
	size_t lo = 0, hi = sizeof format_ranges / sizeof format_ranges[0];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c < format_ranges[mid].lo)
			hi = mid;
		else if (c > format_ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}
