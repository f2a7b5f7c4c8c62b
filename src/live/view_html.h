/* view_html: the web view's page, src/live/view.html compiled in by embed.c
 * at build time (followed by a NUL that view_html_len does not count). */
#ifndef VALAR_VIEW_HTML_H
#define VALAR_VIEW_HTML_H

#include <stddef.h>

extern const unsigned char view_html[];
extern const size_t view_html_len;

#endif
