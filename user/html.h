/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* faultline report --html FILE: one self-contained HTML page of the model (user/html.c). */
#ifndef FL_HTML_H
#define FL_HTML_H

struct model;

/* Writes the page to PATH. 0, or -errno with a message printed. */
int html_write(const struct model *m, const char *path);

#endif
