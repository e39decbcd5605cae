/* <asm/posix_types.h> (pybpf): the x86-64 choices, then the generic types.
 * vmlinux BTF and the kernel's samples assume the 64-bit x86 layout. */
#include <asm/posix_types_64.h>
