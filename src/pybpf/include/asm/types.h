/* <asm/types.h> (pybpf) */
#include <asm-generic/types.h>
