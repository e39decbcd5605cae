/* <asm/errno.h> (pybpf): x86-64 uses the generic errno values. */
#include <asm-generic/errno.h>
