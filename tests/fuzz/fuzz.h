/*
 * Shared by the libFuzzer harnesses of tests/fuzz/ (docs/fuzzing.md).
 *
 * Each harness feeds hostile bytes to one parser through its public API,
 * exactly as the node does, and then checks what the header promises about
 * the result (round trips, NUL-free UTF-8, bounds).  A broken promise is a
 * finding just like a crash, so it aborts with a message saying which
 * promise broke; libFuzzer then saves the input as a reproducer.
 */
#ifndef XZ_FUZZ_H
#define XZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry points libFuzzer calls (declared here for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with the broken promise when cond is false. */
#define FUZZ_CHECK(cond, what)                                                   \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: broken promise: %s (%s)\n",      \
			    __FILE__, __LINE__, (what), #cond);                  \
			abort();                                                 \
		}                                                                \
	} while (0)

/*
 * A malloc'd copy of data[0..size) of exactly size bytes (at least one, so
 * an empty input is still a valid pointer), so ASan reports a parser that
 * reads even one byte past what it was given.
 */
static inline uint8_t *
fuzz_dup(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);

	FUZZ_CHECK(p != NULL, "out of memory copying the input");
	for (size_t i = 0; i < size; i++)
		p[i] = data[i];
	return p;
}

#endif
