/* Echo latencies of a load generator (ws_load, the benchmarks' h2_load):
 * a bounded sample and its percentiles. */
#ifndef EXAMPLES_LATENCY_H
#define EXAMPLES_LATENCY_H

#include <stddef.h>
#include <stdint.h>

typedef struct latency_sample {
    uint64_t *ns;               /* the samples, nanoseconds */
    size_t count, cap;
    unsigned long long seen;    /* messages offered to latency_add */
    unsigned long long stride;  /* every stride-th one is kept */
} latency_sample;

/* At most this many values are kept: every stride-th message is sampled,
 * so the sort behind the percentiles (and its memory) stays small
 * whatever the run's length and does not weigh on the generator's CPU per
 * message, which the benchmarks compare. */
#define LATENCY_SAMPLES (1u << 17)

/* Room for a run of `messages` echoes. 0, or -1 when out of memory. */
int latency_init(latency_sample *s, unsigned long long messages);

/* One message's latency: called per echo, so inline and branch-light. */
static inline void latency_add(latency_sample *s, uint64_t ns)
{
    if (++s->seen % s->stride == 0 && s->count < s->cap) s->ns[s->count++] = ns;
}

/* p50 and p99 in microseconds (0 without samples); sorts the samples. */
void latency_percentiles(latency_sample *s, double *p50_us, double *p99_us);

void latency_free(latency_sample *s);

#endif
