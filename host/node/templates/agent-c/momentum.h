// The policy, free of any binding: tested natively by test.c.
#ifndef MOMENTUM_H
#define MOMENTUM_H

#include <stddef.h>

#define MOMENTUM_MAX_LOOKBACK 250

typedef struct {
    size_t lookback;
    double size;
    double returns[MOMENTUM_MAX_LOOKBACK];
    size_t len;
} momentum_t;

// Parses `params` (`key=value` pairs separated by commas, as ian-guest-sdk
// reads them). Returns NULL on success, else a static message naming the
// problem.
const char *momentum_init(momentum_t *m, const unsigned char *params, size_t len);

// The position for one observation's features.
double momentum_act(momentum_t *m, const double *features, size_t n);

#endif
