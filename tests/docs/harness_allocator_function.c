/* Harness for an allocator sample written as file-scope code that routes
 * wsp_allocator hooks to pool_get()/pool_put() on `my_pool` and defines
 * `int new_pooled_conn(wsp_conn **conn)`. The pool counts what is live and
 * can be made to fail; a connection made through it must account for
 * every byte and give WSP_ERR_NOMEM when the pool is dry. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <wsproto.h>

#include SAMPLE_HEAD

#include "wrap.h"

static struct pool {
    size_t live;    /* bytes handed out and not returned */
    unsigned gets;  /* successful pool_get calls */
    int dry;        /* 1: every pool_get fails */
} my_pool;

static void *pool_get(void *user, size_t size)
{
    struct pool *pool = user;
    DOC_CHECK(pool == &my_pool);
    if (pool->dry) return NULL;
    void *p = malloc(size);
    if (p) {
        pool->live += size;
        pool->gets++;
    }
    return p;
}

static void pool_put(void *user, void *p, size_t size)
{
    struct pool *pool = user;
    DOC_CHECK(pool == &my_pool && size <= pool->live);
    pool->live -= size;
    free(p);
}

#include SAMPLE_BODY

int main(void)
{
    wsp_conn *conn = NULL;
    DOC_CHECK(new_pooled_conn(&conn) == WSP_OK && conn != NULL);
    DOC_CHECK(my_pool.gets == 1 && my_pool.live == wsp_conn_size());
    /* The connection works: a handshake and a message through it. */
    wsp_config ccfg = {0};
    ccfg.role = WSP_ROLE_CLIENT;
    wsp_conn *client;
    DOC_CHECK(wsp_conn_new(&ccfg, &client) == WSP_OK);
    doc_handshake(client, conn);
    wsp_message got = {0};
    doc_transfer(client, conn, WSP_OP_TEXT, (const uint8_t *)"pooled", 6, &got);
    DOC_CHECK(got.len == 6);
    wsp_message_free(&got);
    wsp_conn_free(client);
    wsp_conn_free(conn);
    DOC_CHECK(my_pool.live == 0);

    my_pool.dry = 1;
    conn = NULL;
    DOC_CHECK(new_pooled_conn(&conn) == WSP_ERR_NOMEM);
    DOC_CHECK(my_pool.live == 0);
    printf("%s: %zu-byte connection from the pool, all returned; dry pool gives "
           "WSP_ERR_NOMEM\n", SAMPLE_NAME, wsp_conn_size());
    return 0;
}
