#include "latency.h"

#include <stdlib.h>

int latency_init(latency_sample *s, unsigned long long messages)
{
    s->count = 0;
    s->seen = 0;
    s->stride = messages / LATENCY_SAMPLES + 1;
    s->cap = (size_t)(messages / s->stride) + 1;
    s->ns = malloc(s->cap * sizeof *s->ns);
    return s->ns ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void latency_percentiles(latency_sample *s, double *p50_us, double *p99_us)
{
    *p50_us = *p99_us = 0;
    if (!s->count) return;
    qsort(s->ns, s->count, sizeof *s->ns, cmp_u64);
    *p50_us = (double)s->ns[s->count / 2] / 1e3;
    *p99_us = (double)s->ns[(s->count * 99) / 100] / 1e3;
}

void latency_free(latency_sample *s)
{
    free(s->ns);
    s->ns = NULL;
    s->count = s->cap = 0;
}
