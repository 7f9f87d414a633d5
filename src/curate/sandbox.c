// sandbox.c — fork/exec with rlimits and a wall-clock timeout.
#include "curate/sandbox.h"
#include "base/check.h"
#include "base/progress.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int sandbox_run(const char *const *argv, const char *in, size_t in_len, const char *workdir,
                double timeout_s, size_t mem_bytes, SandboxResult *r) {
    memset(r, 0, sizeof *r);
    int pfd[2];
    if (pipe(pfd) != 0) return fail("sandbox: pipe failed: %s", strerror(errno));
    double t0 = now_seconds();
    pid_t pid = fork();
    if (pid < 0) { close(pfd[0]); close(pfd[1]); return fail("sandbox: fork failed: %s", strerror(errno)); }
    if (pid == 0) {
        setpgid(0, 0);
        struct rlimit lim;
        lim.rlim_cur = lim.rlim_max = (rlim_t)(timeout_s + 1);
        setrlimit(RLIMIT_CPU, &lim);
        if (mem_bytes) { lim.rlim_cur = lim.rlim_max = (rlim_t)mem_bytes; setrlimit(RLIMIT_AS, &lim); }
        lim.rlim_cur = lim.rlim_max = 0;
        setrlimit(RLIMIT_CORE, &lim);
        lim.rlim_cur = lim.rlim_max = 64;
        setrlimit(RLIMIT_NPROC, &lim);
        lim.rlim_cur = lim.rlim_max = (rlim_t)16 << 20;   // files it writes: at most 16 MB
        setrlimit(RLIMIT_FSIZE, &lim);
        dup2(pfd[0], 0);
        close(pfd[0]); close(pfd[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) { dup2(devnull, 1); dup2(devnull, 2); close(devnull); }
        if (workdir && chdir(workdir) != 0) _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[0]);
    // feed stdin (small programs: the pipe buffer holds them; a child that does not read gets EPIPE)
    signal(SIGPIPE, SIG_IGN);
    size_t off = 0;
    while (off < in_len) {
        ssize_t w = write(pfd[1], in + off, in_len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(pfd[1]);
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return fail("sandbox: waitpid failed: %s", strerror(errno));
        if (now_seconds() - t0 > timeout_s) {
            r->timed_out = 1;
            kill(-pid, SIGKILL); kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    r->seconds = now_seconds() - t0;
    if (WIFEXITED(status)) r->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) { r->signaled = WTERMSIG(status); r->exit_code = -1; }
    if (r->exit_code == 127) return fail("sandbox: cannot run \"%s\" (not installed or not in PATH)", argv[0]);
    return 0;
}
