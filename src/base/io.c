// io.c — files: whole-file reads, mmap, atomic writes, folders.
#include "base/io.h"
#include "base/check.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int io_read_all(const char *path, char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return fail("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) b = xrealloc(b, cap *= 2);
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(b); return fail("cannot read %s: I/O error", path); }
    b[n] = 0;
    *buf = b;
    if (len) *len = n;
    return 0;
}

int io_map(const char *path, MappedFile *m) {
    m->data = NULL; m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail("cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) { close(fd); return fail("cannot stat %s: %s", path, strerror(errno)); }
    if (S_ISDIR(st.st_mode)) { close(fd); return fail("%s is a folder, expected a file", path); }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        m->data = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->data == MAP_FAILED) { m->data = NULL; close(fd); return fail("cannot mmap %s: %s", path, strerror(errno)); }
    }
    close(fd);
    return 0;
}

void io_unmap(MappedFile *m) {
    if (m->data) munmap(m->data, m->size);
    m->data = NULL; m->size = 0;
}

void io_map_release(const void *p, size_t n) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + pg - 1) / pg * pg, b = ((uintptr_t)p + n) / pg * pg;
    if (p && b > a) madvise((void *)a, b - a, MADV_DONTNEED);   // private read-only file pages: always safe to drop
}

int io_atomic_open(AtomicFile *a, const char *path) {
    size_t n = strlen(path) + 32;
    a->path = xstrdup(path);
    a->tmp = xmalloc(n);
    snprintf(a->tmp, n, "%s.tmp.%d", path, (int)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        int e = errno;
        free(a->path); free(a->tmp);
        a->path = a->tmp = NULL;
        return fail("cannot create %s: %s", path, strerror(e));
    }
    return 0;
}

int io_atomic_write(AtomicFile *a, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, a->f) != n) return fail("cannot write %s: %s", a->path, strerror(errno));
    return 0;
}

int io_atomic_commit(AtomicFile *a) {
    int rc = 0;
    if (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0) rc = fail("cannot flush %s: %s", a->path, strerror(errno));
    if (fclose(a->f) != 0 && rc == 0) rc = fail("cannot close %s: %s", a->path, strerror(errno));
    a->f = NULL;
    if (rc == 0 && rename(a->tmp, a->path) != 0) rc = fail("cannot rename %s to %s: %s", a->tmp, a->path, strerror(errno));
    if (rc != 0) unlink(a->tmp);
    else {
        // make the rename durable: fsync the containing folder
        char *dir = xstrdup(a->path);
        char *slash = strrchr(dir, '/');
        if (slash) { *slash = 0; io_fsync_path(slash == dir ? "/" : dir); }
        else io_fsync_path(".");
        free(dir);
    }
    free(a->path); free(a->tmp);
    a->path = a->tmp = NULL;
    return rc;
}

void io_atomic_abort(AtomicFile *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    free(a->path); free(a->tmp);
    a->f = NULL; a->path = a->tmp = NULL;
}

int io_write_file(const char *path, const void *data, size_t n) {
    AtomicFile a;
    TRY(io_atomic_open(&a, path));
    if (io_atomic_write(&a, data, n) < 0) { io_atomic_abort(&a); return -1; }
    return io_atomic_commit(&a);
}

int io_copy_file(const char *from, const char *to) {
    char *buf;
    size_t n;
    TRY(io_read_all(from, &buf, &n));
    int rc = io_write_file(to, buf, n);
    free(buf);
    return rc;
}

int io_mkdir_p(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                int r = fail("cannot create folder %s: %s", p, strerror(e));
                free(p);
                return r;
            }
            *s = c;
            if (c == 0) break;
        }
    }
    free(p);
    if (!io_is_dir(path)) return fail("%s exists and is not a folder", path);
    return 0;
}

int io_exists(const char *path) { struct stat st; return stat(path, &st) == 0; }

int io_is_dir(const char *path) { struct stat st; return stat(path, &st) == 0 && S_ISDIR(st.st_mode); }

int io_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail("cannot open %s for fsync: %s", path, strerror(errno));
    int r = fsync(fd);
    close(fd);
    if (r != 0 && errno != EINVAL) return fail("cannot fsync %s: %s", path, strerror(errno));
    return 0;
}

int io_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : fail("cannot stat %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return fail("cannot open folder %s: %s", path, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *sub = path_join(path, e->d_name);
            int r = io_rm_rf(sub);
            free(sub);
            if (r < 0) { closedir(d); return -1; }
        }
        closedir(d);
        if (rmdir(path) != 0) return fail("cannot remove folder %s: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        return fail("cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

int io_file_size(const char *path, size_t *size) {
    struct stat st;
    if (stat(path, &st) != 0) return fail("cannot stat %s: %s", path, strerror(errno));
    *size = (size_t)st.st_size;
    return 0;
}

char *path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *p = xmalloc(na + nb + 2);
    memcpy(p, a, na);
    size_t k = na;
    if (na && a[na - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, nb + 1);
    return p;
}
