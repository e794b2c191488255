/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef FL_CUDA_ERRORS_H
#define FL_CUDA_ERRORS_H

#include <stdbool.h>
#include <stdint.h>

/* "cudaErrorInsufficientDriver" for 35 from the runtime, "CUDA_ERROR_NO_DEVICE" for 100 from the
 * driver; "unknown CUDA error code" for a code neither table knows. */
const char *cuda_error_name(bool driver, int64_t code);

#endif
