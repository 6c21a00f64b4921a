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
    if (!m || !ev || ev->type != WSP_EV_DATA || (!ev->data && ev->len))
        return WSP_ERR_INVALID_ARG;
    int fresh = m->complete || (ev->flags & WSP_DATA_FIRST);
    size_t have = fresh ? 0 : m->len;
    uint64_t max = m->max ? m->max : WSP_DEFAULT_MAX_MESSAGE;
    /* Checked before anything changes: a refused piece leaves the previous
     * (complete) message readable. */
    if (ev->len > max - (have < max ? have : max)) return WSP_ERR_LIMIT;
    if (fresh) {
        m->len = 0;
        m->complete = 0;
        m->opcode = ev->opcode;
    }
    size_t need = m->len + ev->len;
    if (need > m->cap) {
        /* Doubling keeps appends amortised O(1); the cap keeps it bounded. */
        size_t cap = m->cap ? m->cap : 256;
        while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > max) cap = (size_t)max;
        uint8_t *p = grow(m->allocator, m->data, m->cap, cap);
        if (!p) return WSP_ERR_NOMEM;
        m->data = p;
        m->cap = cap;
    }
    if (ev->len) memcpy(m->data + m->len, ev->data, ev->len);
    m->len = need;
    if (ev->flags & WSP_DATA_LAST) m->complete = 1;
    return WSP_OK;
}

void wsp_message_reset(wsp_message *m)
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
