#include "momentum.h"

#include <stdlib.h>
#include <string.h>

// Copies the value of `key` (NUL-terminated) into `out`; 1 if present.
static int param(const unsigned char *p, size_t len, const char *key, char *out, size_t cap) {
    size_t klen = strlen(key), i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && p[end] != ',') end++;
        size_t s = i;
        while (s < end && p[s] == ' ') s++;
        if (end - s > klen && memcmp(p + s, key, klen) == 0) {
            size_t v = s + klen;
            while (v < end && p[v] == ' ') v++;
            if (v < end && p[v] == '=') {
                v++;
                while (v < end && p[v] == ' ') v++;
                size_t e = end;
                while (e > v && p[e - 1] == ' ') e--;
                if (e - v >= cap) return -1;
                memcpy(out, p + v, e - v);
                out[e - v] = 0;
                return 1;
            }
        }
        i = end + 1;
    }
    return 0;
}

// Whether every key in `p` is `lookback` or `size`.
static int only_known_keys(const unsigned char *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && p[end] != ',') end++;
        size_t s = i;
        while (s < end && p[s] == ' ') s++;
        size_t k = s;
        while (k < end && p[k] != '=' && p[k] != ' ') k++;
        if (k > s) {
            int lookback = k - s == 8 && memcmp(p + s, "lookback", 8) == 0;
            int size = k - s == 4 && memcmp(p + s, "size", 4) == 0;
            if (!lookback && !size) return 0;
        }
        i = end + 1;
    }
    return 1;
}

const char *momentum_init(momentum_t *m, const unsigned char *params, size_t len) {
    char buf[64];
    char *end;
    if (!only_known_keys(params, len)) return "unknown parameter (known: lookback, size)";
    m->lookback = 60;
    m->size = 1.0;
    m->len = 0;
    int r = param(params, len, "lookback", buf, sizeof buf);
    if (r < 0) return "lookback is too long";
    if (r > 0) {
        long v = strtol(buf, &end, 10);
        if (*end || end == buf || v < 1 || v > MOMENTUM_MAX_LOOKBACK)
            return "lookback must be in 1..=250";
        m->lookback = (size_t)v;
    }
    r = param(params, len, "size", buf, sizeof buf);
    if (r < 0) return "size is too long";
    if (r > 0) {
        double v = strtod(buf, &end);
        if (*end || end == buf || !(v >= 0.0 && v <= 1.0)) return "size must be in [0, 1]";
        m->size = v;
    }
    return NULL;
}

double momentum_act(momentum_t *m, const double *features, size_t n) {
    double r = n > 1 ? features[1] : 0.0;
    if (m->len == m->lookback) {
        memmove(m->returns, m->returns + 1, (m->len - 1) * sizeof(double));
        m->len--;
    }
    m->returns[m->len++] = r;
    // Added in order, as the Rust agent adds them.
    double trend = 0.0;
    for (size_t i = 0; i < m->len; i++) trend += m->returns[i];
    if (trend > 0.0) return m->size;
    if (trend < 0.0) return -m->size;
    return 0.0;
}
