/*
 * arena.h
 *		A bump allocator for data freed all at once (fixture records,
 *		interned values): no per-object malloc overhead or time.
 */
#ifndef SANDBOX_ARENA_H
#define SANDBOX_ARENA_H

#include <stddef.h>

typedef struct Arena
{
	char	  **chunks;
	size_t		nchunks;
	size_t		used;			/* bytes used in the last chunk */
	size_t		size;			/* size of the last chunk */
} Arena;

/* 8-byte aligned memory that lives until arena_free. */
extern void *arena_alloc(Arena *a, size_t n);
extern void arena_free(Arena *a);

#endif
