#include "plot.h"

#include <math.h>
#include <string.h>

/* Page geometry (SVG user units = CSS px). */
#define W 1000
#define HEAD 78   /* title and model */
#define PANEL 410 /* one file */
#define TX 64     /* time plot: left, width */
#define TW 540
#define PX 668 /* plane: left, side */
#define PS 300
#define TOP 46 /* plots start this far below a panel's top */
#define PH 300 /* plot height */

static const char *const AROUSAL = "#e8590c", *const VALENCE = "#1c7ed6";

/* XML text: markup escaped; bytes that are not UTF-8, and control
 * characters (not allowed in XML 1.0), become '?'. */
static void xml_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && c >= 0x20 && !(c >= 0xc0 && c < 0xc2);
        for (int k = 1; ok && k < len; k++)
            ok = (p[k] >> 6) == 2;
        if (!ok) {
            fputc('?', f);
            p++;
            continue;
        }
        if (c == '&')
            fputs("&amp;", f);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else
            fwrite(p, 1, (size_t)len, f);
        p += len;
    }
}

static void text(FILE *f, double x, double y, const char *attrs, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y, attrs);
    xml_text(f, s);
    fputs("</text>\n", f);
}

static void clock_label(char *buf, size_t n, double t, int minutes)
{
    if (minutes)
        snprintf(buf, n, "%d:%02d", (int)(t / 60), (int)fmod(t, 60));
    else
        snprintf(buf, n, "%g s", t);
}

void plot_begin(FILE *f, int nfiles, const char *model, int placeholder)
{
    const int h = HEAD + PANEL * (nfiles > 0 ? nfiles : 1);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, "
            "sans-serif\" font-size=\"13\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
            W, h, W, h);
    text(f, 24, 34, "font-size=\"22\" font-weight=\"bold\" fill=\"#222\"",
         "valar: arousal and valence");
    fputs("<text x=\"24\" y=\"60\" fill=\"#555\">model: ", f);
    xml_text(f, model);
    if (placeholder)
        fputs("<tspan fill=\"#c92a2a\" font-weight=\"bold\"> (placeholder: random weights, not "
              "trained; the values mean nothing)</tspan>",
              f);
    fputs("</text>\n", f);
}

/* A tick step giving at most 10 ticks over dur seconds. */
static double tick_step(double dur)
{
    static const double steps[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        if (dur / steps[i] <= 10)
            return steps[i];
    return ceil(dur / 10 / 3600) * 3600;
}

static void time_plot(FILE *f, double y0, const analyzer_result *r, size_t n)
{
    const double dur = n ? r[n - 1].time_s + 0.5 : 1, step = tick_step(dur);
    const int minutes = dur >= 120;
#define TXP(t) (TX + (t) / dur * TW)
#define TYP(v) (y0 + (1.0 - (v)) / 2.0 * PH)
    for (int k = -2; k <= 2; k++) {
        char lab[16];
        snprintf(lab, sizeof lab, "%g", k / 2.0);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n", TX,
                TYP(k / 2.0), TX + TW, TYP(k / 2.0), k ? "#e6e6e6" : "#999");
        text(f, TX - 6, TYP(k / 2.0) + 4, "text-anchor=\"end\" fill=\"#555\"", lab);
    }
    for (double t = 0; t <= dur + 1e-9; t += step) {
        char lab[32];
        clock_label(lab, sizeof lab, t, minutes);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n",
                TXP(t), y0 + PH, TXP(t), y0 + PH + 5);
        text(f, TXP(t), y0 + PH + 19, "text-anchor=\"middle\" fill=\"#555\"", lab);
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            TX, y0, TW, PH);
    text(f, TX + TW, y0 + PH + 36, "text-anchor=\"end\" fill=\"#555\"",
         "time (start of each 500 ms segment)");
    for (int b = 0; b < 2; b++) {
        fprintf(f,
                "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
                "stroke-linejoin=\"round\" points=\"",
                b ? "valence" : "arousal", b ? VALENCE : AROUSAL);
        for (size_t k = 0; k < n; k++)
            fprintf(f, "%s%.2f,%.2f", k ? " " : "", TXP(r[k].time_s),
                    TYP(b ? r[k].valence : r[k].arousal));
        fputs("\"/>\n", f);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"18\" height=\"3\" fill=\"%s\"/>\n", TX, y0 - 12,
            AROUSAL);
    text(f, TX + 24, y0 - 7, "fill=\"#333\"", "arousal");
    fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"18\" height=\"3\" fill=\"%s\"/>\n", TX + 100,
            y0 - 12, VALENCE);
    text(f, TX + 124, y0 - 7, "fill=\"#333\"", "valence");
#undef TXP
#undef TYP
}

/* Points coloured from blue (start) to red (end). */
static void point_colour(char *buf, size_t n, double u)
{
    snprintf(buf, n, "#%02x%02x%02x", (int)lround(66 + u * (214 - 66)),
             (int)lround(139 + u * (39 - 139)), (int)lround(202 + u * (40 - 202)));
}

static void plane(FILE *f, double y0, const analyzer_result *r, size_t n)
{
    static const struct {
        int v, a;
        const char *word, *fill;
    } q[4] = {{-1, 1, "tense / angry", "#fde2e2"},
              {1, 1, "happy / excited", "#fff3c4"},
              {-1, -1, "sad / depressed", "#e0e8ff"},
              {1, -1, "calm / relaxed", "#dcf5e6"}};
#define PXP(v) (PX + ((v) + 1.0) / 2.0 * PS)
#define PYP(a) (y0 + (1.0 - (a)) / 2.0 * PS)
    for (int i = 0; i < 4; i++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
                q[i].v < 0 ? PXP(-1) : PXP(0), q[i].a > 0 ? PYP(1) : PYP(0), PS / 2, PS / 2,
                q[i].fill);
        text(f, q[i].v < 0 ? PXP(-1) + 6 : PXP(1) - 6, q[i].a > 0 ? PYP(1) + 16 : PYP(-1) - 7,
             q[i].v < 0 ? "fill=\"#555\"" : "text-anchor=\"end\" fill=\"#555\"", q[i].word);
    }
    fprintf(
        f,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n"
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n"
        "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n",
        PXP(0), PYP(1), PXP(0), PYP(-1), PXP(-1), PYP(0), PXP(1), PYP(0), PX, y0, PS, PS);
    text(f, PXP(-1), PYP(-1) + 17, "fill=\"#555\"", "-1");
    text(f, PXP(0), PYP(-1) + 17, "text-anchor=\"middle\" fill=\"#555\"", "valence");
    text(f, PXP(1), PYP(-1) + 17, "text-anchor=\"end\" fill=\"#555\"", "+1");
    text(f, PXP(-1) - 6, PYP(1) + 10, "text-anchor=\"end\" fill=\"#555\"", "+1");
    text(f, PXP(-1) - 6, PYP(-1), "text-anchor=\"end\" fill=\"#555\"", "-1");
    fprintf(f,
            "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\" "
            "fill=\"#555\">arousal</text>\n",
            PXP(-1) - 8, PYP(0));
    fputs("<polyline fill=\"none\" stroke=\"#888\" stroke-width=\"0.8\" points=\"", f);
    for (size_t k = 0; k < n; k++)
        fprintf(f, "%s%.2f,%.2f", k ? " " : "", PXP(r[k].valence), PYP(r[k].arousal));
    fputs("\"/>\n", f);
    const double rad = n > 600 ? 1.6 : 3.2;
    for (size_t k = 0; k < n; k++) {
        char col[8];
        point_colour(col, sizeof col, n > 1 ? (double)k / (double)(n - 1) : 0);
        fprintf(f,
                "<circle class=\"pt\" cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\" fill=\"%s\" "
                "data-t=\"%.1f\" data-a=\"%.6f\" data-v=\"%.6f\"><title>%.1f s: arousal %.3f, "
                "valence %.3f</title></circle>\n",
                PXP(r[k].valence), PYP(r[k].arousal), rad, col, r[k].time_s, r[k].arousal,
                r[k].valence, r[k].time_s, r[k].arousal, r[k].valence);
    }
    if (n) { /* where it starts and ends */
        text(f, PXP(r[0].valence) + 6, PYP(r[0].arousal) - 6, "fill=\"#428bca\" font-size=\"11\"",
             "start");
        text(f, PXP(r[n - 1].valence) + 6, PYP(r[n - 1].arousal) - 6,
             "fill=\"#d62728\" font-size=\"11\"", "end");
    }
#undef PXP
#undef PYP
}

void plot_file(FILE *f, int index, const char *name, const analyzer_result *r, size_t n)
{
    const double top = HEAD + (double)index * PANEL;
    fprintf(f, "<g class=\"file\" data-index=\"%d\">\n", index);
    fprintf(f, "<line x1=\"24\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", top + 4,
            W - 24, top + 4);
    text(f, 24, top + 26, "font-size=\"15\" font-weight=\"bold\" fill=\"#222\"", name);
    if (n == 0)
        text(f, 24, top + 60, "fill=\"#555\"", "shorter than 500 ms: no result");
    else {
        time_plot(f, top + TOP + 14, r, n);
        plane(f, top + TOP + 14, r, n);
    }
    fputs("</g>\n", f);
}

void plot_end(FILE *f)
{
    fputs("</svg>\n", f);
}
