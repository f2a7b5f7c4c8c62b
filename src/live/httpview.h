/* httpview: the web view of `valar listen --http` (libmicrohttpd).
 *
 * Serves one self-contained page (src/live/view.html, compiled in) and the
 * results as JSON and Server-Sent Events:
 *   GET /                  the page (/?overlay=1: transparent, no chrome)
 *   GET /now               latest result, its age and whether it is live
 *   GET /history?seconds=N results published in the last N s (1..3600, default
 *                          60), and the age of the newest
 *   GET /events            text/event-stream: an "info" event (model), then
 *                          one event per result (id = seq); ?since=SEQ or
 *                          Last-Event-ID resumes after SEQ
 * Nothing else: no file system access; other paths 404, other methods 405,
 * bad queries 400, too many viewers 503, headers over 16 KiB 4xx (by MHD).
 *
 * Threads: httpview_publish runs on the output thread (output.c), never the
 * audio callback; it only copies the formatted result into a ring under a
 * mutex that HTTP threads hold for copies, never across socket I/O. Every
 * connection has its own MHD thread. A viewer is a cursor into the ring: one
 * that falls more than `window` results behind (a slow or stuck client)
 * skips ahead, and the skipped results are counted as dropped. */
#ifndef VALAR_HTTPVIEW_H
#define VALAR_HTTPVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"

typedef struct {
    const char *listen;      /* "[ADDR:]PORT"; ADDR default 127.0.0.1; PORT 0: any free */
    const char *model;       /* shown on the page (file name) */
    const char *description; /* model metadata "description", or NULL */
    int placeholder;         /* model metadata placeholder = true */
    int max_viewers;         /* event streams at once (0: 64) */
    int window;              /* results a viewer may lag behind (0: 64, i.e. 32 s) */
    int history;             /* results kept for /history (0: 7200, 1 h) */
    int verbose;             /* libmicrohttpd's own messages on stderr */
} httpview_config;

typedef struct {
    uint64_t viewers;   /* event streams opened */
    int viewers_now;    /* open now */
    int viewers_peak;   /* most at once */
    uint64_t dropped;   /* results skipped for slow viewers (all viewers) */
    uint64_t refused;   /* event streams refused: too many viewers */
    uint64_t published; /* results published */
} httpview_stats;

typedef struct httpview httpview;

/* Check a --http value without binding: 0, or VALAR_ERR_ADDR and msg. */
int httpview_check_listen(const char *spec, char *msg, size_t msglen);

/* Binds and starts serving. Create it after blocking signals: its threads
 * inherit the mask. 0, or VALAR_ERR_ADDR (c->listen is not [ADDR:]PORT),
 * VALAR_ERR_BIND (cannot listen there), VALAR_ERR_HTTP (libmicrohttpd would
 * not start), VALAR_ERR_NOMEM; msg says which, *out is NULL and nothing
 * listens on failure. Main thread. */
int httpview_create(const httpview_config *c, httpview **out, char *msg, size_t msglen);
/* Stops serving (open event streams end) and frees everything. */
void httpview_destroy(httpview *h);

/* "http://127.0.0.1:8080/"; for a wildcard address, the loopback one. */
const char *httpview_url(const httpview *h);
/* "127.0.0.1:8080" as bound (the real port when 0 was asked for). */
const char *httpview_bound(const httpview *h);
/* 1 if bound to a non-loopback address (others on the network can watch). */
int httpview_public(const httpview *h);

/* analyzer_cb-compatible (user = the httpview). Output thread only. */
void httpview_publish(void *user, const analyzer_result *r);

void httpview_get_stats(httpview *h, httpview_stats *s);

#endif
