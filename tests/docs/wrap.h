/* Routes a sample's output calls through the checking wrappers of
 * support.c. Include after <wsproto.h> (and the sample's own includes), so
 * that the declarations are not renamed. */
#ifndef DOCS_WRAP_H
#define DOCS_WRAP_H

#include "support.h"

#define wsp_conn_send(...) doc_conn_send(__VA_ARGS__)
#define wsp_conn_accept(...) doc_conn_accept(__VA_ARGS__)
#define wsp_conn_reject(...) doc_conn_reject(__VA_ARGS__)
#define wsp_conn_flush(...) doc_conn_flush(__VA_ARGS__)
#define wsp_conn_close(...) doc_conn_close(__VA_ARGS__)
#define wsp_conn_client_request(...) doc_conn_client_request(__VA_ARGS__)
#define wsp_deflate_negotiate(...) doc_deflate_negotiate(__VA_ARGS__)

#endif
