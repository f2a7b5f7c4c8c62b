/* melspec objects created, run and destroyed on several threads at once
 * (as the trainer and the plugin's worker do) give the same frames as on
 * one thread: create/destroy serialise FFTW's planner and soxr's set-up. */
#include <pthread.h>

#include "melspec_common.h"

#define THREADS 4
#define ROUNDS 6

static const double rates[2] = {48000, 22050};
static float *signal_[2];
static size_t length[2];
static frames expect[2];

static void *worker(void *arg)
{
    long id = (long)(size_t)arg;
    melspec_config c;
    melspec_config_default(&c);
    for (int r = 0; r < ROUNDS; r++) {
        int k = (int)((id + r) % 2);
        melspec *m = create_or_die(&c, rates[k]);
        frames f;
        frames_init(&f, (size_t)c.n_mels);
        run_stream(m, signal_[k], length[k], 1000 + (size_t)id, 0, &f);
        melspec_destroy(m);
        int ok = f.n == expect[k].n && !f.index_error &&
                 memcmp(f.data, expect[k].data, f.n * f.n_mels * sizeof *f.data) == 0;
        free(f.data);
        if (!ok)
            return (void *)1;
    }
    return NULL;
}

int main(void)
{
    melspec_config c;
    melspec_config_default(&c);
    for (int k = 0; k < 2; k++) {
        length[k] = (size_t)(2.5 * rates[k]);
        signal_[k] = test_signal(rates[k], length[k], 31);
        melspec *m = create_or_die(&c, rates[k]);
        frames_init(&expect[k], (size_t)c.n_mels);
        run_stream(m, signal_[k], length[k], 0, 5, &expect[k]);
        melspec_destroy(m);
    }
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(size_t)i)) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(t[i], &res);
        if (res) {
            fprintf(stderr, "FAIL: thread %d got different frames\n", i);
            failed = 1;
        }
    }
    printf("%d threads x %d rounds: %s\n", THREADS, ROUNDS, failed ? "differ" : "identical");
    for (int k = 0; k < 2; k++) {
        free(signal_[k]);
        free(expect[k].data);
    }
    return failed;
}
