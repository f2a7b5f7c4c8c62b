#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "summary.h"

struct report {
    FILE *f;
    const char *model;
    int format, summary, file_column, begun;
    size_t count; /* records written */
};

/* A CSV field in quotes (RFC 4180: a quote inside is doubled). */
static void csv_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char csv_summary_head[] =
    "file,duration_s,segments,arousal_mean,arousal_sd,valence_mean,valence_sd,quadrant,mood,"
    "share_q1,share_q2,share_q3,share_q4\n";

static void csv_record(const report *rp, FILE *m, const report_item *it)
{
    if (rp->summary) {
        summary s;
        summary_compute(it->r, it->n, it->duration_s, &s);
        csv_string(m, it->path);
        fprintf(m, ",%.3f,%zu", s.duration_s, s.segments);
        if (s.segments) {
            fprintf(m, ",%.6f,%.6f,%.6f,%.6f,%d,%s", s.arousal_mean, s.arousal_sd, s.valence_mean,
                    s.valence_sd, s.quadrant, summary_mood(s.quadrant));
            for (int q = 0; q < 4; q++)
                fprintf(m, ",%.6f", s.share[q]);
            fputc('\n', m);
        } else {
            fputs(",,,,,,,,,,\n", m); /* undefined for a file shorter than a segment */
        }
        return;
    }
    for (size_t k = 0; k < it->n; k++) {
        if (rp->file_column) {
            csv_string(m, it->path);
            fputc(',', m);
        }
        fprintf(m, "%.1f,%.6f,%.6f\n", it->r[k].time_s, it->r[k].arousal, it->r[k].valence);
    }
}

static void json_summary(FILE *m, const report_item *it)
{
    summary s;
    summary_compute(it->r, it->n, it->duration_s, &s);
    fprintf(m, ", \"segments\": %zu", s.segments);
    if (!s.segments) {
        fputs(", \"arousal_mean\": null, \"arousal_sd\": null, \"valence_mean\": null, "
              "\"valence_sd\": null, \"quadrant\": null, \"mood\": null, \"share_q1\": null, "
              "\"share_q2\": null, \"share_q3\": null, \"share_q4\": null}",
              m);
        return;
    }
    fprintf(m,
            ", \"arousal_mean\": %.6f, \"arousal_sd\": %.6f, \"valence_mean\": %.6f, "
            "\"valence_sd\": %.6f, \"quadrant\": %d, \"mood\": \"%s\"",
            s.arousal_mean, s.arousal_sd, s.valence_mean, s.valence_sd, s.quadrant,
            summary_mood(s.quadrant));
    for (int q = 0; q < 4; q++)
        fprintf(m, ", \"share_q%d\": %.6f", q + 1, s.share[q]);
    fputc('}', m);
}

/* One file object; JSON Lines on one line, JSON indented inside "files". */
static void json_record(const report *rp, FILE *m, const report_item *it)
{
    const int line = rp->format == REPORT_JSONL;
    if (!line)
        fprintf(m, "%s\n  ", rp->count ? "," : "");
    fputs("{\"file\": ", m);
    json_string(m, it->path);
    if (it->size >= 0) {
        fprintf(m, ", \"size\": %lld, \"mtime\": ", it->size);
        json_string(m, it->mtime ? it->mtime : "");
    }
    fprintf(m, ", \"duration_s\": %.3f", it->duration_s);
    if (rp->summary) {
        json_summary(m, it);
    } else {
        fputs(", \"frames\": [", m);
        for (size_t k = 0; k < it->n; k++)
            fprintf(m, "%s{\"time_s\": %.1f, \"arousal\": %.6f, \"valence\": %.6f}",
                    k ? (line ? ", " : ",\n    ") : (line ? "" : "\n    "), it->r[k].time_s,
                    it->r[k].arousal, it->r[k].valence);
        fputs(line || !it->n ? "]}" : "\n  ]}", m);
    }
    if (line)
        fputc('\n', m);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The CSV header or the JSON opening, before the first record (or at the
 * end), so that a run whose every file failed prints nothing. */
static int begin(report *rp)
{
    FILE *f = rp->f;
    if (rp->begun)
        return 0;
    rp->begun = 1;
    if (rp->format == REPORT_CSV && rp->summary)
        fputs(csv_summary_head, f);
    else if (rp->format == REPORT_CSV)
        fputs(rp->file_column ? "file,time_s,arousal,valence\n" : "time_s,arousal,valence\n", f);
    if (rp->format == REPORT_JSON) {
        fputs("{\"model\": ", f);
        json_string(f, rp->model);
        fputs(", \"files\": [", f);
    }
    return ferror(f) ? -1 : 0;
}

int report_write(report *rp, const report_item *it)
{
    if (begin(rp))
        return VALAR_ERR_IO;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return VALAR_ERR_NOMEM;
    if (rp->format == REPORT_CSV)
        csv_record(rp, m, it);
    else
        json_record(rp, m, it);
    int err = fclose(m) != 0;
    if (!err && rp->format == REPORT_JSONL)
        err = fflush(rp->f) != 0 || write_all(fileno(rp->f), buf, len) != 0;
    else if (!err)
        err = fwrite(buf, 1, len, rp->f) != len;
    free(buf);
    rp->count += !err;
    return err ? VALAR_ERR_IO : 0;
}

int report_create(FILE *f, int format, int summary, int file_column, const char *model,
                  report **out)
{
    report *rp = calloc(1, sizeof *rp);
    *out = rp;
    if (!rp)
        return VALAR_ERR_NOMEM;
    *rp = (report){f, model, format, summary, file_column, 0, 0};
    return 0;
}

int report_finish(report *rp)
{
    if (begin(rp))
        return VALAR_ERR_IO;
    if (rp->format == REPORT_JSON)
        fputs("\n]}\n", rp->f);
    return fflush(rp->f) != 0 || ferror(rp->f) ? VALAR_ERR_IO : 0;
}

void report_destroy(report *rp)
{
    free(rp);
}
