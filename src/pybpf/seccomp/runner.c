/*
 * The real kernel's answer to "what does this seccomp policy do to this system call?".
 *
 * pybpf_seccomp_probe() runs in a child process forked for the purpose
 * (pybpf/seccomp/kernel.py). It starts a worker thread that sets
 * no_new_privs, installs the filters with seccomp(2) on itself only (no
 * TSYNC: the main thread stays unfiltered) and makes the system call.
 * Between the install and the call nothing else enters the kernel. What
 * happened is written into memory shared with the parent, never with a
 * system call of the worker's own (the policy may forbid them all):
 *
 *   - the call returned: its return value and errno (ALLOW, LOG, ERRNO,
 *     TRACE and USER_NOTIF without a tracer or listener: ENOSYS);
 *   - SIGSYS arrived (TRAP): the handler records si_errno (the filter's
 *     data), si_syscall and si_arch;
 *   - the worker thread died (KILL_THREAD): the main thread's pthread_join
 *     returns without a result (the kernel wakes joiners of an exiting
 *     thread, CLONE_CHILD_CLEARTID);
 *   - the whole process died of SIGSYS (KILL_PROCESS): the parent sees it
 *     in waitpid.
 *
 * After recording, the worker spins until the parent kills the child: its
 * exit would make system calls the policy may turn into a kill. A watcher
 * thread (unfiltered, like the main thread) notices the result and writes a
 * byte to notify_fd, so the parent can wait in select() instead of polling.
 *
 * arch_i386 makes the call through "int $0x80", the i386 entry a 64-bit
 * process can use: seccomp then sees AUDIT_ARCH_I386 and i386 numbers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum {
	PROBE_RUNNING = 0,
	PROBE_RETURNED = 1,
	PROBE_TRAPPED = 2,
	PROBE_THREAD_KILLED = 3,
	PROBE_INSTALL_FAILED = 4,
	PROBE_SETUP_FAILED = 5,
};

struct probe_result {
	volatile int32_t status;
	int32_t err;
	int64_t ret;
	int32_t sig_errno;
	int32_t sig_syscall;
	uint32_t sig_arch;
	int32_t installed;
	uint64_t sig_call_addr;
};

struct probe_job {
	struct sock_fprog *progs;
	int nprogs;
	unsigned int flags;
	long nr;
	long args[6];
	int arch_i386;
	struct probe_result *res;
};

static struct probe_result *g_res;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	g_res->sig_errno = si->si_errno;
	g_res->sig_syscall = si->si_syscall;
	g_res->sig_arch = si->si_arch;
	g_res->sig_call_addr = (uint64_t)(uintptr_t)si->si_call_addr;
	__atomic_store_n(&g_res->status, PROBE_TRAPPED, __ATOMIC_SEQ_CST);
	for (;;)
		__asm__ volatile("pause" ::: "memory");
}

#if defined(__x86_64__)
static long call_int80(long nr, const long *a)
{
	long ret;
	register long r_ebp __asm__("rbp") = a[5];
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4]),
			   "r"(r_ebp)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}
#endif

static void *worker(void *p)
{
	struct probe_job *j = p;
	struct probe_result *res = j->res;
	long ret;
	int i;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		res->err = errno;
		__atomic_store_n(&res->status, PROBE_SETUP_FAILED, __ATOMIC_SEQ_CST);
		return NULL;
	}
	for (i = 0; i < j->nprogs; i++) {
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, j->flags, &j->progs[i])) {
			res->err = errno;
			res->installed = i;
			__atomic_store_n(&res->status, PROBE_INSTALL_FAILED, __ATOMIC_SEQ_CST);
			return NULL;
		}
	}
	res->installed = j->nprogs;
	errno = 0;
#if defined(__x86_64__)
	if (j->arch_i386) {
		ret = call_int80(j->nr, j->args);
		/* as glibc's syscall() reports it: -1 and errno */
		res->err = (ret < 0 && ret > -4096) ? (int)-ret : 0;
		res->ret = res->err ? -1 : ret;
	} else
#endif
	{
		ret = syscall(j->nr, j->args[0], j->args[1], j->args[2], j->args[3], j->args[4],
			      j->args[5]);
		res->ret = ret;
		res->err = ret == -1 ? errno : 0;
	}
	if (__atomic_load_n(&res->status, __ATOMIC_SEQ_CST) == PROBE_RUNNING)
		__atomic_store_n(&res->status, PROBE_RETURNED, __ATOMIC_SEQ_CST);
	for (;;)
		__asm__ volatile("pause" ::: "memory");
	return NULL;
}

static int g_notify_fd = -1;

static void *watcher(void *p)
{
	struct timespec ts = { 0, 20000 };

	(void)p;
	while (__atomic_load_n(&g_res->status, __ATOMIC_SEQ_CST) == PROBE_RUNNING)
		nanosleep(&ts, NULL);
	while (write(g_notify_fd, "x", 1) < 0 && errno == EINTR)
		;
	for (;;)
		pause();
	return NULL;
}

/* Returns 0 when the worker ran (see res->status); -errno when the setup failed. */
int pybpf_seccomp_probe(struct sock_fprog *progs, int nprogs, unsigned int flags, long nr,
			const long *args, int arch_i386, struct probe_result *res, int notify_fd)
{
	struct probe_job job;
	struct sigaction sa;
	pthread_t t, w;
	int rc;

	memset(&job, 0, sizeof(job));
	job.progs = progs;
	job.nprogs = nprogs;
	job.flags = flags;
	job.nr = nr;
	memcpy(job.args, args, sizeof(job.args));
	job.arch_i386 = arch_i386;
	job.res = res;
	g_res = res;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL))
		return -errno;
	g_notify_fd = notify_fd;
	rc = pthread_create(&w, NULL, watcher, NULL);
	if (rc)
		return -rc;
	rc = pthread_create(&t, NULL, worker, &job);
	if (rc)
		return -rc;
	pthread_join(t, NULL);
	if (__atomic_load_n(&res->status, __ATOMIC_SEQ_CST) == PROBE_RUNNING)
		__atomic_store_n(&res->status, PROBE_THREAD_KILLED, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return 0;
}
