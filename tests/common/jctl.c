/* jctl: jack_lsp, jack_connect and jack_bufsize for the tests, under a
 * client name of its own ("jctl-<pid>").
 *
 * Why: while a JACK client opens, libjack binds a socket named after the
 * client alone, /dev/shm/jack_<client>_<uid>_0, not after the server. Two
 * clients of one name opening at the same moment on two private servers
 * (two tests running in parallel) take each other's socket: both opens
 * fail, or a server keeps a half-open client that stalls its sync-mode
 * cycle. jack_lsp ("lsp"), jack_connect and jack_bufsize have fixed names,
 * so every JACK client a test starts has a unique name: this tool, and the
 * -n / --name / client-name arguments of the others.
 *
 * usage: jctl lsp                  print every port, one a line
 *        jctl connect SRC DST      connect two ports
 *        jctl bufsize N            set the server's buffer size
 * The server is $JACK_DEFAULT_SERVER; none is started. Exit 0 or 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jack/jack.h>

int main(int argc, char **argv)
{
    const char *cmd = argc >= 2 ? argv[1] : "";
    int want = !strcmp(cmd, "lsp") ? 2 : !strcmp(cmd, "connect") ? 4 : !strcmp(cmd, "bufsize") ? 3 : 0;
    if (!want || argc != want) {
        fprintf(stderr, "usage: jctl lsp | jctl connect SRC DST | jctl bufsize N\n");
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "jctl-%ld", (long)getpid());
    jack_status_t st;
    jack_client_t *c = jack_client_open(name, JackNoStartServer | JackUseExactName, &st);
    if (!c) {
        fprintf(stderr, "jctl: cannot open JACK client (status 0x%x)\n", (unsigned)st);
        return 1;
    }
    int rc = 0;
    if (!strcmp(cmd, "lsp")) {
        const char **ports = jack_get_ports(c, NULL, NULL, 0);
        for (int i = 0; ports && ports[i]; i++)
            printf("%s\n", ports[i]);
        jack_free(ports);
    } else if (!strcmp(cmd, "connect")) {
        int e = jack_connect(c, argv[2], argv[3]);
        if (e) {
            fprintf(stderr, "jctl: cannot connect %s to %s (%d)\n", argv[2], argv[3], e);
            rc = 1;
        }
    } else {
        char *end;
        long n = strtol(argv[2], &end, 10);
        if (*end || n < 1 || jack_set_buffer_size(c, (jack_nframes_t)n)) {
            fprintf(stderr, "jctl: cannot set the buffer size to %s\n", argv[2]);
            rc = 1;
        }
    }
    jack_client_close(c);
    return rc;
}
