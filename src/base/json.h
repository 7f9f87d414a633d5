// json.h — cJSON with messages that name the file, the key and the byte offset.
#pragma once
#include <cjson/cJSON.h>

// Parse a JSON text; on a syntax error the message names `what` (usually a
// path), the byte offset, line and column.
int json_parse(const char *text, size_t len, const char *what, cJSON **out);
// Read and parse a file.
int json_load_file(const char *path, cJSON **out);
// Write a cJSON tree to path atomically, pretty-printed.
int json_save_file(const char *path, const cJSON *root);

// Typed look-ups. `what` names the object (e.g. "config.json") for messages.
// *_req fail when the key is missing or has the wrong type; *_opt return the
// default when missing (or null) and fail only on the wrong type.
int json_int_req(const cJSON *o, const char *key, const char *what, long long *out);
int json_int_opt(const cJSON *o, const char *key, const char *what, long long def, long long *out);
int json_num_req(const cJSON *o, const char *key, const char *what, double *out);
int json_num_opt(const cJSON *o, const char *key, const char *what, double def, double *out);
int json_bool_opt(const cJSON *o, const char *key, const char *what, int def, int *out);
int json_str_req(const cJSON *o, const char *key, const char *what, const char **out);
int json_str_opt(const cJSON *o, const char *key, const char *what, const char *def, const char **out);
