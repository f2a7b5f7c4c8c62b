#include "httpview.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "view_html.h"

#define DEF_VIEWERS 64
#define DEF_WINDOW 64    /* 32 s of results: a viewer further behind is useless live */
#define DEF_HISTORY 7200 /* 1 hour */
#define MAX_SECONDS 3600
#define HEARTBEAT_MS 1000 /* keeps idle streams within the timeout, finds dead viewers */
#define TIMEOUT_S 10      /* a connection without progress this long is closed */
#define MEM_LIMIT 16384   /* per connection, bounds request headers */
#define FIELDS 112        /* one result's JSON fields */
#define LIVE_S 2.0        /* /now "live": a result within this */
#define DRAIN_MS 1000     /* at stop, time for viewers to take what is left */

typedef struct {
    uint64_t seq;
    double at; /* CLOCK_MONOTONIC, s */
    size_t len;
    char fields[FIELDS];
} entry;

struct httpview {
    httpview_config cfg;
    struct MHD_Daemon *d;
    struct MHD_Response *page;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* guarded by lock: */
    entry *ring;
    uint64_t seq; /* last published (0: none yet); ring slot of s is (s - 1) % history */
    int stop;
    httpview_stats st;

    char *meta;       /* "model":...,"description":...,"placeholder":...,"run":... */
    char *info_event; /* first bytes of every event stream */
    char url[96], bound[80];
    int public;
};

typedef struct {
    httpview *h;
    uint64_t next; /* seq to send next */
    char buf[4096];
    size_t len, off;
} viewer;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Digits only, at most max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s || strlen(s) > 19)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* --- address ------------------------------------------------------------- */

static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl, char *msg,
                        size_t msglen)
{
    char host[256];
    const char *port, *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || close - spec - 1 >= (long)sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
        port = close + 2;
    } else if (colon) {
        if (strchr(spec, ':') != colon || colon - spec >= (long)sizeof host)
            goto bad; /* a bare IPv6 address: needs brackets */
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        port = colon + 1;
    } else {
        snprintf(host, sizeof host, "127.0.0.1");
        port = spec;
    }
    uint64_t p;
    if (!host[0] || parse_uint(port, 65535, &p))
        goto bad;
    struct addrinfo hints = {0}, *res = NULL, *pick = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(host, NULL, &hints, &res);
    if (e) {
        return valar_fail(msg, msglen, VALAR_ERR_ADDR, "--http %s: unknown address '%s' (%s)", spec,
                          host, gai_strerror(e));
    }
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
            (!pick || (pick->ai_family != AF_INET && a->ai_family == AF_INET)))
            pick = a; /* IPv4 first: "localhost" */
    if (pick) {
        memcpy(ss, pick->ai_addr, pick->ai_addrlen);
        *sl = pick->ai_addrlen;
        if (ss->ss_family == AF_INET)
            ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
        else
            ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)p);
    }
    freeaddrinfo(res);
    if (!pick) {
        return valar_fail(msg, msglen, VALAR_ERR_ADDR,
                          "--http %s: '%s' has no IPv4 or IPv6 address", spec, host);
    }
    return 0;
bad:
    snprintf(msg, msglen,
             "--http '%s': expected [ADDR:]PORT, PORT 0..65535 (0: any free port), e.g. 8080, "
             "0.0.0.0:8080 or [::1]:8080",
             spec);
    return VALAR_ERR_ADDR;
}

int httpview_check_listen(const char *spec, char *msg, size_t msglen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    return parse_listen(spec, &ss, &sl, msg, msglen);
}

/* Fills h->bound, h->url, h->public from the bound socket. */
static void describe(httpview *h, const struct sockaddr_storage *ss)
{
    char a[INET6_ADDRSTRLEN] = "?";
    int port, v6 = ss->ss_family == AF_INET6, any;
    if (v6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
        port = ntohs(s->sin6_port);
        any = IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr);
        h->public = !IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) &&
                    !(IN6_IS_ADDR_V4MAPPED(&s->sin6_addr) && s->sin6_addr.s6_addr[12] == 127);
    } else {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
        port = ntohs(s->sin_port);
        uint32_t ip = ntohl(s->sin_addr.s_addr);
        any = ip == INADDR_ANY;
        h->public = (ip >> 24) != 127;
    }
    snprintf(h->bound, sizeof h->bound, v6 ? "[%s]:%d" : "%s:%d", a, port);
    if (any)
        snprintf(h->url, sizeof h->url, "http://%s:%d/", v6 ? "[::1]" : "127.0.0.1", port);
    else
        snprintf(h->url, sizeof h->url, v6 ? "http://[%s]:%d/" : "http://%s:%d/", a, port);
}

static int open_socket(httpview *h, char *msg, size_t msglen)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int err = parse_listen(h->cfg.listen, &ss, &sl, msg, msglen);
    if (err)
        return err;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ss.ss_family == AF_INET6) /* [::] takes IPv4 too */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        snprintf(msg, msglen, "--http %s: cannot listen: %s", h->cfg.listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return VALAR_ERR_BIND;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    describe(h, &ss);
    return fd;
}

/* --- responses ----------------------------------------------------------- */

static void common_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    common_headers(r, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* JSON for other tools: readable from any origin (anyone who can reach the
 * port can watch anyway). */
static enum MHD_Result reply_json(struct MHD_Connection *c, char *json, size_t len)
{
    if (!json)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    struct MHD_Response *r = MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(json);
        return MHD_NO;
    }
    common_headers(r, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* GET /now, on the connection's MHD thread (as every handler below). */
static enum MHD_Result get_now(httpview *h, struct MHD_Connection *c)
{
    entry e = {0};
    pthread_mutex_lock(&h->lock);
    if (h->seq)
        e = h->ring[(h->seq - 1) % (uint64_t)h->cfg.history];
    pthread_mutex_unlock(&h->lock);
    size_t cap = strlen(h->meta) + FIELDS + 96;
    char *s = malloc(cap);
    int n = 0;
    if (s && e.seq) {
        double age = now_s() - e.at;
        n = snprintf(s, cap, "{%s,\"live\":%s,\"age_s\":%.3f,%s}\n", h->meta,
                     age < LIVE_S ? "true" : "false", age, e.fields);
    } else if (s) {
        n = snprintf(s, cap,
                     "{%s,\"live\":false,\"age_s\":null,\"seq\":0,\"time_s\":null,"
                     "\"arousal\":null,\"valence\":null}\n",
                     h->meta);
    }
    return reply_json(c, s, (size_t)n);
}

/* The first seq published at or after since (h->seq + 1: none). Under lock. */
static uint64_t first_since(const httpview *h, double since)
{
    const uint64_t cap = (uint64_t)h->cfg.history;
    uint64_t first = h->seq + 1;
    while (first > 1 && h->seq - (first - 1) < cap && h->ring[(first - 2) % cap].at >= since)
        first--;
    return first;
}

/* GET /history (a connection's MHD thread). */
static enum MHD_Result get_history(httpview *h, struct MHD_Connection *c)
{
    const char *arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
    uint64_t secs = 60;
    if (arg && (parse_uint(arg, MAX_SECONDS, &secs) || secs == 0))
        return reply_text(c, MHD_HTTP_BAD_REQUEST,
                          "seconds must be a whole number from 1 to 3600\n");
    const double since = now_s() - (double)secs;
    const uint64_t cap = (uint64_t)h->cfg.history, slack = 64;
    /* Size it first, allocate unlocked, then copy under the lock: the
     * output thread never waits for more than memcpy. */
    pthread_mutex_lock(&h->lock);
    uint64_t count = h->seq + 1 - first_since(h, since) + slack;
    pthread_mutex_unlock(&h->lock);
    size_t size = strlen(h->meta) + 96 + (size_t)count * (FIELDS + 3);
    char *s = malloc(size);
    if (!s)
        return reply_json(c, NULL, 0);
    size_t n = 0;
    pthread_mutex_lock(&h->lock);
    uint64_t first = first_since(h, since);
    if (h->seq + 1 - first > count)
        first = h->seq + 1 - count; /* a burst meanwhile: the newest that fit */
    char age[32] = "null";          /* of the newest result: is it live? */
    if (h->seq)
        snprintf(age, sizeof age, "%.3f", now_s() - h->ring[(h->seq - 1) % cap].at);
    n += (size_t)snprintf(s, size, "{%s,\"seconds\":%llu,\"age_s\":%s,\"results\":[", h->meta,
                          (unsigned long long)secs, age);
    for (uint64_t q = first; q <= h->seq; q++) {
        const entry *e = &h->ring[(q - 1) % cap];
        if (q > first)
            s[n++] = ',';
        s[n++] = '{';
        memcpy(s + n, e->fields, e->len);
        n += e->len;
        s[n++] = '}';
    }
    pthread_mutex_unlock(&h->lock);
    n += (size_t)snprintf(s + n, size - n, "]}\n");
    return reply_json(c, s, n);
}

/* --- event stream -------------------------------------------------------- */

/* Refill v->buf: the next results, else a heartbeat after HEARTBEAT_MS;
 * -1 when the server stops and this viewer has had everything. On the
 * connection's MHD thread. */
static int sse_fill(viewer *v)
{
    httpview *h = v->h;
    v->len = v->off = 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (HEARTBEAT_MS % 1000) * 1000000L;
    until.tv_sec += HEARTBEAT_MS / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&h->lock);
    while (!h->stop && v->next > h->seq)
        if (pthread_cond_timedwait(&h->wake, &h->lock, &until) == ETIMEDOUT)
            break;
    if (h->stop && v->next > h->seq) {
        pthread_mutex_unlock(&h->lock);
        return -1;
    }
    const uint64_t w = (uint64_t)h->cfg.window;
    const uint64_t oldest = h->seq > w ? h->seq - w + 1 : 1;
    if (v->next < oldest) { /* this viewer fell behind: skip, count */
        h->st.dropped += oldest - v->next;
        v->next = oldest;
    }
    const uint64_t cap = (uint64_t)h->cfg.history;
    while (v->next <= h->seq && sizeof v->buf - v->len > FIELDS + 48) {
        v->len +=
            (size_t)snprintf(v->buf + v->len, sizeof v->buf - v->len, "id: %llu\ndata: {%s}\n\n",
                             (unsigned long long)v->next, h->ring[(v->next - 1) % cap].fields);
        v->next++;
    }
    pthread_mutex_unlock(&h->lock);
    if (!v->len)
        v->len = (size_t)snprintf(v->buf, sizeof v->buf, ": ping\n\n");
    return 0;
}

/* MHD's content reader for an event stream (its connection's thread). */
static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    viewer *v = cls;
    if (v->off == v->len && sse_fill(v) < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = v->len - v->off < max ? v->len - v->off : max;
    memcpy(out, v->buf + v->off, n);
    v->off += n;
    return (ssize_t)n;
}

/* When the stream's response is done with (an MHD thread). */
static void sse_free(void *cls)
{
    viewer *v = cls;
    pthread_mutex_lock(&v->h->lock);
    v->h->st.viewers_now--;
    pthread_cond_broadcast(&v->h->wake); /* httpview_destroy may wait for this */
    pthread_mutex_unlock(&v->h->lock);
    free(v);
}

/* GET /events (a connection's MHD thread). */
static enum MHD_Result get_events(httpview *h, struct MHD_Connection *c)
{
    /* Resume after SEQ: Last-Event-ID (EventSource sends it when it
     * reconnects, to the URL it first opened), else ?since=SEQ. */
    const char *arg = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (!arg)
        arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    uint64_t since = 0;
    if (arg && parse_uint(arg, UINT64_MAX / 2, &since))
        return reply_text(c, MHD_HTTP_BAD_REQUEST, "since must be a result number (seq)\n");
    viewer *v = calloc(1, sizeof *v);
    if (!v)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    v->h = h;
    pthread_mutex_lock(&h->lock);
    int full = h->st.viewers_now >= h->cfg.max_viewers;
    if (full) {
        h->st.refused++;
    } else {
        h->st.viewers_now++;
        h->st.viewers++;
        if (h->st.viewers_now > h->st.viewers_peak)
            h->st.viewers_peak = h->st.viewers_now;
        const uint64_t w = (uint64_t)h->cfg.window;
        const uint64_t oldest = h->seq > w ? h->seq - w + 1 : 1;
        v->next = arg ? since + 1 : h->seq + 1;
        if (v->next > h->seq + 1)
            v->next = h->seq + 1; /* a SEQ from an earlier run */
        if (v->next < oldest)
            v->next = oldest;
    }
    pthread_mutex_unlock(&h->lock);
    if (full) {
        free(v);
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many viewers\n");
    }
    v->len = (size_t)snprintf(v->buf, sizeof v->buf, "%s", h->info_event);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, sizeof v->buf, sse_read, v, sse_free);
    if (!r) {
        sse_free(v);
        return MHD_NO;
    }
    common_headers(r, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* frees v through sse_free once the stream ends */
    return ret;
}

/* Every request, on its connection's MHD thread; answered on the first call
 * (after the headers: a body, if any, is never read). */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)con_cls;
    httpview *h = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    const char *len =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if ((len && strcmp(len, "0") != 0) ||
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return reply_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "no request body is accepted\n");
    if (strcmp(url, "/") == 0)
        return MHD_queue_response(c, MHD_HTTP_OK, h->page);
    if (strcmp(url, "/now") == 0)
        return get_now(h, c);
    if (strcmp(url, "/history") == 0)
        return get_history(h, c);
    if (strcmp(url, "/events") == 0)
        return get_events(h, c);
    return reply_text(c, MHD_HTTP_NOT_FOUND,
                      "not found (there are /, /now, /history?seconds=N and /events)\n");
}

/* --- life cycle ---------------------------------------------------------- */

/* libmicrohttpd's messages (--verbose), from any of its threads. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    httpview *h = cls;
    if (!h->cfg.verbose)
        return;
    fprintf(stderr, "valar listen: http: ");
    vfprintf(stderr, fmt, ap);
}

/* The model's fields, JSON-escaped by cJSON, shared by every response. */
static int make_meta(httpview *h)
{
    cJSON *o = cJSON_CreateObject();
    char run[48];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(run, sizeof run, "%lld-%d", (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000,
             (int)getpid()); /* tells a restarted valar from a reconnect */
    if (!o || !cJSON_AddStringToObject(o, "model", h->cfg.model ? h->cfg.model : "?") ||
        !(h->cfg.description ? cJSON_AddStringToObject(o, "description", h->cfg.description)
                             : cJSON_AddNullToObject(o, "description")) ||
        !cJSON_AddBoolToObject(o, "placeholder", h->cfg.placeholder) ||
        !cJSON_AddStringToObject(o, "run", run)) {
        cJSON_Delete(o);
        return -1;
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return -1;
    size_t n = strlen(s);
    h->meta = malloc(n);
    h->info_event = malloc(n + 64);
    if (h->meta && h->info_event) {
        snprintf(h->meta, n - 1, "%s", s + 1); /* without the braces */
        snprintf(h->info_event, n + 64, "retry: 1000\nevent: info\ndata: %s\n\n", s);
    }
    cJSON_free(s);
    return h->meta && h->info_event ? 0 : -1;
}

static struct MHD_Response *make_page(void)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(view_html_len, (void *)view_html, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    common_headers(r, "text/html; charset=utf-8");
    /* Everything is in the page; it may talk to this server only. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
                            "base-uri 'none'; form-action 'none'");
    return r;
}

int httpview_create(const httpview_config *c, httpview **out, char *msg, size_t msglen)
{
    *out = NULL;
    httpview *h = calloc(1, sizeof *h);
    if (!h)
        return valar_fail(msg, msglen, VALAR_ERR_NOMEM, "out of memory");
    h->cfg = *c;
    if (h->cfg.max_viewers <= 0)
        h->cfg.max_viewers = DEF_VIEWERS;
    if (h->cfg.history <= 0)
        h->cfg.history = DEF_HISTORY;
    if (h->cfg.window <= 0)
        h->cfg.window = DEF_WINDOW;
    if (h->cfg.window > h->cfg.history)
        h->cfg.window = h->cfg.history;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    h->ring = calloc((size_t)h->cfg.history, sizeof *h->ring);
    h->page = make_page();
    if (!h->ring || !h->page || make_meta(h)) {
        snprintf(msg, msglen, "out of memory");
        httpview_destroy(h);
        return VALAR_ERR_NOMEM;
    }
    int fd = open_socket(h, msg, msglen);
    if (fd < 0) {
        httpview_destroy(h);
        return fd;
    }
    /* A thread per connection: an event stream waits for results in its
     * own thread, and a stuck client stalls only its own. */
    h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_POLL | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)h->cfg.max_viewers + 32, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)MEM_LIMIT, MHD_OPTION_STRICT_FOR_CLIENT,
                            1 /* e.g. HTTP/1.1 needs Host */, MHD_OPTION_END);
    if (!h->d) {
        if (fcntl(fd, F_GETFD) != -1) /* unless libmicrohttpd closed it already */
            close(fd);
        snprintf(msg, msglen, "--http %s: cannot start the web server (libmicrohttpd)",
                 h->cfg.listen);
        httpview_destroy(h);
        return VALAR_ERR_HTTP;
    }
    *out = h;
    return 0;
}

void httpview_destroy(httpview *h)
{
    if (!h)
        return;
    /* Event streams end once they have sent everything; stopping the daemon
     * would cut them short, so give them a moment (a stuck one never ends). */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += DRAIN_MS / 1000;
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    pthread_cond_broadcast(&h->wake);
    while (h->d && h->st.viewers_now > 0)
        if (pthread_cond_timedwait(&h->wake, &h->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&h->lock);
    if (h->d)
        MHD_stop_daemon(h->d); /* joins every connection thread, closes the socket */
    if (h->page)
        MHD_destroy_response(h->page);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h->ring);
    free(h->meta);
    free(h->info_event);
    free(h);
}

const char *httpview_url(const httpview *h)
{
    return h->url;
}

const char *httpview_bound(const httpview *h)
{
    return h->bound;
}

int httpview_public(const httpview *h)
{
    return h->public;
}

static void number(char *s, size_t n, double x)
{
    if (isfinite(x))
        snprintf(s, n, "%.6f", x);
    else
        snprintf(s, n, "null");
}

/* On the output thread. */
void httpview_publish(void *user, const analyzer_result *r)
{
    httpview *h = user;
    char a[32], v[32], fields[FIELDS];
    number(a, sizeof a, r->arousal);
    number(v, sizeof v, r->valence);
    pthread_mutex_lock(&h->lock);
    const uint64_t seq = h->seq + 1;
    /* The same digits as --stdout and valar analyze. */
    int len = snprintf(fields, sizeof fields,
                       "\"seq\":%llu,\"time_s\":%.1f,\"arousal\":%s,\"valence\":%s",
                       (unsigned long long)seq, r->time_s, a, v);
    entry *e = &h->ring[(seq - 1) % (uint64_t)h->cfg.history];
    e->seq = seq;
    e->at = now_s();
    e->len = len > 0 && len < FIELDS ? (size_t)len : 0;
    memcpy(e->fields, fields, sizeof fields);
    h->seq = seq;
    h->st.published++;
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
}

void httpview_get_stats(httpview *h, httpview_stats *s)
{
    pthread_mutex_lock(&h->lock);
    *s = h->st;
    pthread_mutex_unlock(&h->lock);
}
