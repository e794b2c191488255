/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* faultline report --perfetto FILE: the model as Chrome Trace Event JSON (user/perfetto.c). */
#ifndef FL_PERFETTO_H
#define FL_PERFETTO_H

struct model;

/* Writes the trace to PATH. 0, or -errno with a message printed. */
int perfetto_write(const struct model *m, const char *path);

#endif
