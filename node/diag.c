#include "diag.h"

#include <stdarg.h>
#include <stdio.h>

int
xz_diag_set(struct xz_diag *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return -1;
}
