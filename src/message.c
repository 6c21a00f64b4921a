/* Opt-in assembly of whole messages from streamed data events, for
 * applications that want them; the connection itself never buffers payload. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void *grow(const wsp_allocator *a, void *old, size_t old_size,
                  size_t new_size)
{
#ifdef WSP_NO_MALLOC
    if (!a) return NULL; /* heap-free build: the caller must give one */
#else
    if (!a) return realloc(old, new_size);
#endif
    if (a->realloc_fn) return a->realloc_fn(old, old_size, new_size, a->user);
    void *p = a->malloc_fn(new_size, a->user);
    if (p && old) {
        memcpy(p, old, old_size);
        a->free_fn(old, old_size, a->user);
    }
    return p;
}

int wsp_message_add(wsp_message *m, const wsp_event *ev)
{
    if (!m || !ev || ev->type != WSP_EV_DATA) return WSP_ERR_INVALID_ARG;
    const wsp_data_event *d = &ev->u.data;
    if (!d->payload && d->len) return WSP_ERR_INVALID_ARG;
    int fresh = m->complete || (d->flags & WSP_DATA_FIRST);
    size_t have = fresh ? 0 : m->len;
    uint64_t max = m->max ? m->max : WSP_DEFAULT_MAX_MESSAGE;
    /* Checked before anything changes: a refused piece leaves the previous
     * (complete) message readable. The NUL after the message needs one
     * byte of capacity beyond it. */
    if (d->len > max - (have < max ? have : max) || d->len >= SIZE_MAX - have)
        return WSP_ERR_LIMIT;
    size_t need = have + d->len;
    if (need + 1 > m->cap) {
        /* Doubling keeps appends amortised O(1); max + 1 bounds it. */
        size_t cap = m->cap ? m->cap : 256;
        while (cap < need + 1) cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
        if (cap - 1 > max) cap = (size_t)max + 1;
        uint8_t *p = grow(m->allocator, m->data, m->cap, cap);
        if (!p) return WSP_ERR_NOMEM;
        m->data = p;
        m->cap = cap;
    }
    if (fresh) {
        m->len = 0;
        m->complete = 0;
        m->opcode = d->opcode;
    }
    if (d->len) memcpy(m->data + m->len, d->payload, d->len);
    m->len = need;
    m->data[need] = 0;
    if (d->flags & WSP_DATA_LAST) m->complete = 1;
    return WSP_OK;
}

void wsp_message_free(wsp_message *m)
{
    if (!m) return;
    if (m->data) {
        if (m->allocator)
            m->allocator->free_fn(m->data, m->cap, m->allocator->user);
#ifndef WSP_NO_MALLOC
        else
            free(m->data);
#endif
    }
    m->data = NULL;
    m->len = m->cap = 0;
    m->complete = 0;
}
