// sandbox.h — run a program in a child process with limits: wall-clock timeout (killed after),
// CPU seconds and address space (setrlimit), no core dumps, stdin from a buffer, stdout/stderr
// discarded, its own process group, a scratch working folder. Used to run tests of code chains.
#pragma once
#include <stddef.h>

typedef struct { int exit_code; int signaled; int timed_out; double seconds; } SandboxResult;

// argv[0] is looked up in PATH. Returns 0 when the child ran (see r), -1 + fail() if it could not start.
int sandbox_run(const char *const *argv, const char *stdin_data, size_t stdin_len, const char *workdir,
                double timeout_s, size_t mem_bytes, SandboxResult *r);
