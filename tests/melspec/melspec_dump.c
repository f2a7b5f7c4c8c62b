/* Writes a test signal and valar's log-mel frames of it for ref_melspec.py:
 *     melspec_dump OUT SR N_FFT HOP N_MELS FMIN FMAX SEGMENT_MS LOG_FLOOR SECONDS
 * OUT gets int32 n_samples, n_frames, n_mels, then the float32 samples and
 * the float32 frames (native byte order). */
#include <stdio.h>
#include <stdlib.h>

#include "melspec_common.h"

int main(int argc, char **argv)
{
    if (argc != 11) {
        fprintf(stderr,
                "usage: %s OUT SR N_FFT HOP N_MELS FMIN FMAX SEGMENT_MS LOG_FLOOR SECONDS\n",
                argv[0]);
        return 2;
    }
    melspec_config c;
    c.sample_rate = atoi(argv[2]);
    c.n_fft = atoi(argv[3]);
    c.hop = atoi(argv[4]);
    c.n_mels = atoi(argv[5]);
    c.fmin = strtof(argv[6], NULL);
    c.fmax = strtof(argv[7], NULL);
    c.segment_ms = atoi(argv[8]);
    c.log_floor = strtof(argv[9], NULL);
    double seconds = atof(argv[10]);
    char msg[256];
    if (melspec_config_check(&c, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    size_t n = (size_t)(seconds * c.sample_rate);
    float *x = test_signal(c.sample_rate, n, 12345);
    melspec *m = create_or_die(&c, c.sample_rate);
    frames f;
    frames_init(&f, (size_t)c.n_mels);
    run_stream(m, x, n, 0, 99, &f);
    if (f.index_error) {
        fprintf(stderr, "frame indices do not count up from 0\n");
        return 1;
    }
    FILE *o = fopen(argv[1], "wb");
    if (!o) {
        perror(argv[1]);
        return 1;
    }
    int hdr[3] = {(int)n, (int)f.n, c.n_mels};
    int ok = fwrite(hdr, sizeof hdr, 1, o) == 1 && fwrite(x, sizeof *x, n, o) == n &&
             fwrite(f.data, sizeof *f.data, f.n * f.n_mels, o) == f.n * f.n_mels;
    ok = (fclose(o) == 0) && ok;
    melspec_destroy(m);
    free(x);
    free(f.data);
    if (!ok) {
        fprintf(stderr, "%s: write failed\n", argv[1]);
        return 1;
    }
    return 0;
}
