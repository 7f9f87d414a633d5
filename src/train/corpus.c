// corpus.c — gather real text and code that is already on the machine.
#include "train/corpus.h"
#include "base/check.h"
#include "base/io.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_FILE (256u << 10)

typedef struct {
    AtomicFile af;
    uint64_t budget, used, total_used, nfiles;
    int misses;          // files in a row that did not fit the budget: the source is full after 32
    int src;
    CorpusStats *st;
    int failed;
} Gather;

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int emit(Gather *g, const char *path, const char *text, size_t n, const char *domain) {
    if (n == 0 || memchr(text, 0, n)) return 0;               // empty or binary
    if (g->used + n > g->budget) return 0;
    cJSON *j = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof id, "sys-%llu", (unsigned long long)g->nfiles);
    cJSON_AddStringToObject(j, "id", id);
    char *t = xmalloc(n + 1);
    memcpy(t, text, n); t[n] = 0;
    cJSON_AddStringToObject(j, "text", t);
    free(t);
    cJSON_AddStringToObject(j, "source", path);
    cJSON_AddStringToObject(j, "domain", domain);
    char *line = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!line) return 0;   // invalid UTF-8 is kept by cJSON as bytes; a NULL here means out of memory
    int rc = io_atomic_write(&g->af, line, strlen(line));
    if (rc == 0) rc = io_atomic_write(&g->af, "\n", 1);
    free(line);
    if (rc < 0) { g->failed = 1; return -1; }
    g->used += n; g->nfiles++;
    g->st->files[g->src]++; g->st->bytes[g->src] += n;
    return 0;
}

// gzip -dc FILE through a pipe (no shell); NULL when gzip is missing or fails.
static char *gunzip(const char *path, size_t *n) {
    int fd[2];
    if (pipe(fd) != 0) return NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
    char *argv[] = {"gzip", "-dc", "--", (char *)path, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "gzip", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc != 0) { close(fd[0]); return NULL; }
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    ssize_t r;
    while ((r = read(fd[0], buf + len, cap - len)) > 0) {
        len += (size_t)r;
        if (len > MAX_FILE) break;
        if (len == cap) { cap *= 2; buf = xrealloc(buf, cap); }
    }
    close(fd[0]);
    int status = 0;
    if (len > MAX_FILE) kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    if (len > MAX_FILE || !WIFEXITED(status) || WEXITSTATUS(status) != 0) { free(buf); return NULL; }
    *n = len;
    return buf;
}

typedef int (*Want)(const char *name);
static int want_py(const char *n) { return ends_with(n, ".py"); }
static int want_h(const char *n) { return ends_with(n, ".h"); }
static int want_doc(const char *n) {
    return ends_with(n, ".txt") || ends_with(n, ".md") || ends_with(n, ".rst") || !strncmp(n, "README", 6) ||
           !strcmp(n, "NEWS") || !strcmp(n, "TODO") || !strcmp(n, "AUTHORS");
}
static int want_man(const char *n) { return ends_with(n, ".gz") || strchr(n, '.') != NULL; }

static void walk(Gather *g, const char *dir, Want want, const char *domain, int depth, int gz) {
    if (g->failed || g->used >= g->budget || g->misses >= 32 || depth > 12) return;
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) return;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (name[0] == '.' || g->failed || g->used >= g->budget || g->misses >= 32) { free(ents[i]); continue; }
        char *p = path_join(dir, name);
        struct stat sb;
        if (lstat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                // skip big test-data folders of the standard library and site-packages
                if (strcmp(name, "site-packages") && strcmp(name, "dist-packages") && strcmp(name, "__pycache__"))
                    walk(g, p, want, domain, depth + 1, gz);
            } else if (S_ISREG(sb.st_mode) && sb.st_size > 0 && (size_t)sb.st_size <= MAX_FILE && want(name)) {
                if (g->used + (uint64_t)sb.st_size * (gz && ends_with(name, ".gz") ? 3 : 1) > g->budget) g->misses++;
                else g->misses = 0;
                char *buf = NULL; size_t len = 0;
                if (g->misses) { /* does not fit: not read */ }
                else if (gz && ends_with(name, ".gz")) buf = gunzip(p, &len);
                else if (!ends_with(name, ".gz") && !ends_with(name, ".zst") && io_read_all(p, &buf, &len) < 0) buf = NULL;
                if (buf) emit(g, p, buf, len, domain);
                free(buf);
            }
        }
        free(p);
        free(ents[i]);
    }
    free(ents);
}

int corpus_gather(const char *out_jsonl, uint64_t max_bytes, CorpusStats *st) {
    memset(st, 0, sizeof *st);
    st->names[CORPUS_PYTHON] = "Python standard library (.py)";
    st->names[CORPUS_HEADERS] = "C headers (/usr/include)";
    st->names[CORPUS_DOCS] = "package documentation (/usr/share/doc)";
    st->names[CORPUS_MAN] = "man pages (/usr/share/man, gzip)";
    Gather g = {0};
    g.st = st;
    TRY(io_atomic_open(&g.af, out_jsonl));
    const double share[CORPUS_NSRC] = {0.35, 0.35, 0.15, 0.15};
    uint64_t carry = 0;
    for (int s = 0; s < CORPUS_NSRC && !g.failed; s++) {
        g.src = s;
        g.used = 0;
        g.misses = 0;
        g.budget = (uint64_t)(share[s] * (double)max_bytes) + carry;
        if (s == CORPUS_PYTHON) {
            glob_t gl;
            if (glob("/usr/lib/python3.[0-9]*", 0, NULL, &gl) == 0) {
                // the newest version only (sorted: the last one)
                const char *root = gl.gl_pathv[gl.gl_pathc - 1];
                st->roots[s] = xstrdup(root);
                walk(&g, root, want_py, "code", 0, 0);
                globfree(&gl);
            }
        } else if (s == CORPUS_HEADERS) {
            if (io_is_dir("/usr/include")) { st->roots[s] = "/usr/include"; walk(&g, "/usr/include", want_h, "code", 0, 0); }
        } else if (s == CORPUS_DOCS) {
            if (io_is_dir("/usr/share/doc")) { st->roots[s] = "/usr/share/doc"; walk(&g, "/usr/share/doc", want_doc, "text", 0, 0); }
        } else {
            const char *secs[] = {"/usr/share/man/man1", "/usr/share/man/man3", "/usr/share/man/man5", "/usr/share/man/man7"};
            for (int k = 0; k < 4; k++)
                if (io_is_dir(secs[k])) { st->roots[s] = "/usr/share/man"; walk(&g, secs[k], want_man, "text", 0, 1); }
        }
        carry = g.budget > g.used ? g.budget - g.used : 0;
    }
    if (g.failed) { io_atomic_abort(&g.af); return -1; }
    if (g.nfiles == 0) {
        io_atomic_abort(&g.af);
        return fail("found no text on this machine (looked in /usr/lib/python3.*, /usr/include, /usr/share/doc, "
                    "/usr/share/man): give your own documents to `deepc curate` / `deepc tokenize` instead");
    }
    return io_atomic_commit(&g.af);
}
