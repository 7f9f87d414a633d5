// json.c — cJSON with messages that name the file, the key and the byte offset.
#include "base/json.h"
#include "base/check.h"
#include "base/io.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int json_parse(const char *text, size_t len, const char *what, cJSON **out) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        if (off > len) off = len;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) { if (text[i] == '\n') { line++; col = 1; } else col++; }
        return fail("%s: malformed JSON at byte %zu (line %d, column %d)", what, off, line, col);
    }
    *out = root;
    return 0;
}

int json_load_file(const char *path, cJSON **out) {
    char *buf; size_t len;
    TRY(io_read_all(path, &buf, &len));
    int r = json_parse(buf, len, path, out);
    free(buf);
    return r;
}

int json_save_file(const char *path, const cJSON *root) {
    char *s = cJSON_Print(root);
    if (!s) return fail("cannot serialize JSON for %s", path);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n'; s[n + 1] = 0;
    int r = io_write_file(path, s, n + 1);
    free(s);
    return r;
}

static const cJSON *get(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

int json_int_req(const cJSON *o, const char *key, const char *what, long long *out) {
    const cJSON *v = get(o, key);
    if (!v) return fail("%s: missing key \"%s\" (an integer)", what, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9e15)
        return fail("%s: key \"%s\" must be an integer", what, key);
    *out = (long long)v->valuedouble;
    return 0;
}

int json_int_opt(const cJSON *o, const char *key, const char *what, long long def, long long *out) {
    if (!get(o, key)) { *out = def; return 0; }
    return json_int_req(o, key, what, out);
}

int json_num_req(const cJSON *o, const char *key, const char *what, double *out) {
    const cJSON *v = get(o, key);
    if (!v) return fail("%s: missing key \"%s\" (a number)", what, key);
    if (!cJSON_IsNumber(v)) return fail("%s: key \"%s\" must be a number", what, key);
    *out = v->valuedouble;
    return 0;
}

int json_num_opt(const cJSON *o, const char *key, const char *what, double def, double *out) {
    if (!get(o, key)) { *out = def; return 0; }
    return json_num_req(o, key, what, out);
}

int json_bool_opt(const cJSON *o, const char *key, const char *what, int def, int *out) {
    const cJSON *v = get(o, key);
    if (!v) { *out = def; return 0; }
    if (!cJSON_IsBool(v)) return fail("%s: key \"%s\" must be true or false", what, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

int json_str_req(const cJSON *o, const char *key, const char *what, const char **out) {
    const cJSON *v = get(o, key);
    if (!v) return fail("%s: missing key \"%s\" (a string)", what, key);
    if (!cJSON_IsString(v)) return fail("%s: key \"%s\" must be a string", what, key);
    *out = v->valuestring;
    return 0;
}

int json_str_opt(const cJSON *o, const char *key, const char *what, const char *def, const char **out) {
    if (!get(o, key)) { *out = def; return 0; }
    return json_str_req(o, key, what, out);
}
