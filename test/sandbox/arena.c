/*
 * arena.c
 *		A bump allocator for data freed all at once.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "util.h"

#define ARENA_CHUNK ((size_t) 1 << 20)

void *
arena_alloc(Arena *a, size_t n)
{
	void	   *p;

	n = (n + 7) & ~(size_t) 7;
	if (a->nchunks == 0 || a->used + n > a->size)
	{
		size_t		size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		a->chunks = xrealloc(a->chunks, (a->nchunks + 1) * sizeof(char *));
		a->chunks[a->nchunks++] = xmalloc(size);
		a->used = 0;
		a->size = size;
	}
	p = a->chunks[a->nchunks - 1] + a->used;
	a->used += n;
	return p;
}

void
arena_free(Arena *a)
{
	for (size_t i = 0; i < a->nchunks; i++)
		free(a->chunks[i]);
	free(a->chunks);
	memset(a, 0, sizeof(*a));
}
