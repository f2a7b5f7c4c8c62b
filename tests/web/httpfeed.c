/* httpfeed: the web view (src/live/httpview.c) on its own, for the HTTP
 * tests: no audio, results published on command, as fast as asked.
 *
 * usage: httpfeed LISTEN WINDOW MAX_VIEWERS
 * Prints "url URL" once serving, then reads commands on stdin:
 *   p N   publish N results (time_s 0, 0.5, ...; arousal sin, valence cos)
 *   s     print "stats viewers=V now=O peak=P dropped=D refused=R published=N"
 *   q     stop serving (open streams end) and exit; so does end of input
 * The model is "test-model.safetensors", a placeholder, with a description
 * that needs JSON escaping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpview.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: httpfeed LISTEN WINDOW MAX_VIEWERS\n");
        return 2;
    }
    httpview_config c = {0};
    c.listen = argv[1];
    c.window = atoi(argv[2]);
    c.max_viewers = atoi(argv[3]);
    c.model = "test-model.safetensors";
    c.description = "a \"test\" model\\with\tescapes <&>";
    c.placeholder = 1;
    c.verbose = 1;
    char msg[512];
    httpview *h;
    if (httpview_create(&c, &h, msg, sizeof msg)) {
        fprintf(stderr, "httpfeed: %s\n", msg);
        return 1;
    }
    printf("url %s\n", httpview_url(h));
    fflush(stdout);
    char line[64];
    long k = 0;
    while (fgets(line, sizeof line, stdin) && line[0] != 'q') {
        if (line[0] == 'p') {
            long n = atol(line + 1);
            for (long i = 0; i < n; i++, k++) {
                analyzer_result r = {0.5 * (double)k, (float)sin(0.1 * (double)k),
                                     (float)cos(0.07 * (double)k)};
                httpview_publish(h, &r);
            }
            printf("published %ld\n", k);
        } else if (line[0] == 's') {
            httpview_stats s;
            httpview_get_stats(h, &s);
            printf("stats viewers=%llu now=%d peak=%d dropped=%llu refused=%llu published=%llu\n",
                   (unsigned long long)s.viewers, s.viewers_now, s.viewers_peak,
                   (unsigned long long)s.dropped, (unsigned long long)s.refused,
                   (unsigned long long)s.published);
        }
        fflush(stdout);
    }
    httpview_destroy(h);
    printf("stopped\n");
    return 0;
}
