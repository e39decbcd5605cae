/* <linux/errno.h> (pybpf): the kernel's errno values (include/uapi/linux/errno.h). */
#include <asm/errno.h>
