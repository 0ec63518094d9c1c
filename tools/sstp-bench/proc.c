/* proc.c — worker processes (-j N): forking them, each with a pipe that
 * carries its result to the parent, how many connections each takes, and
 * reaping them. */
#include "tools/sstp-bench/bench.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

unsigned share_of(unsigned total, unsigned i, unsigned n)
{
    return total / n + (i < total % n ? 1u : 0u);
}

int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}


int procs_spawn(struct procs *ps, unsigned n, proc_main_fn run, void *arg)
{
    ps->n = 0;
    while (ps->n < n) {
        int p[2];
        if (pipe(p) == -1)
            return -1;
        fflush(stdout); /* or the child prints the parent's buffer again */
        pid_t pid = fork();
        if (pid == -1) {
            close(p[0]);
            close(p[1]);
            return -1;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            close(p[0]);
            for (unsigned k = 0; k < ps->n; k++)
                close(ps->fd[k]);
            int rc = run(ps->n, p[1], arg);
            close(p[1]);
            _exit(rc == 0 ? 0 : 1);
        }
        close(p[1]);
        ps->pid[ps->n] = pid;
        ps->fd[ps->n] = p[0];
        ps->n++;
    }
    return 0;
}

int result_send(int fd, const void *res, size_t len)
{
    char m = MSG_RESULT;
    return write_all(fd, &m, 1) == -1 || write_all(fd, res, len) == -1 ? -1 : 0;
}

int result_recv(int fd, void *res, size_t len)
{
    char m = 0;
    return read_all(fd, &m, 1) == 0 && m == MSG_RESULT && read_all(fd, res, len) == 0 ? 0 : -1;
}

int procs_reap(struct procs *ps)
{
    int rc = 0;
    for (unsigned k = 0; k < ps->n; k++) {
        close(ps->fd[k]);
        int st;
        while (waitpid(ps->pid[k], &st, 0) == -1 && errno == EINTR)
            ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = -1;
    }
    ps->n = 0;
    return rc;
}
