/* clock: the two clocks the program reads, in milliseconds.
 *
 * Monotonic for deadlines and durations (never jumps), real time for what
 * is shown or signed (timestamps, "last success"). Inline: called per
 * request and per transfer.
 */
#ifndef TOK_CLOCK_H
#define TOK_CLOCK_H

#include <time.h>

static inline long long
clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline long long
clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
