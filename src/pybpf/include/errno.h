/* <errno.h> for eBPF programs: the kernel's errno values, as helpers and the
 * verifier use them (there is no C library, and so no `errno` variable).
 * pybpf's own header; a C library's <errno.h> adds nothing a program can use. */
#ifndef __PYBPF_ERRNO_H
#define __PYBPF_ERRNO_H
#include <linux/errno.h>
#endif
