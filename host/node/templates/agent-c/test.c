// Native tests of the policy: `./test.sh` (the machine's cc, no wasm).
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "momentum.h"

static double step(momentum_t *m, double ret) {
    double f[2] = {100.0, ret};
    return momentum_act(m, f, 2);
}

static const char *init(momentum_t *m, const char *p) {
    return momentum_init(m, (const unsigned char *)p, strlen(p));
}

int main(void) {
    static momentum_t m;
    // Returns that add up exactly in binary, so the signs are certain.
    assert(init(&m, "lookback=3,size=0.5") == NULL);
    assert(step(&m, 0.25) == 0.5);
    assert(step(&m, -0.75) == -0.5);
    assert(step(&m, 0.25) == -0.5);
    // The oldest return leaves the window: the first 0.25 is forgotten.
    assert(step(&m, 1.0) == 0.5);
    // Bad params are refused with a reason.
    assert(strstr(init(&m, "lookback=0"), "lookback"));
    assert(init(&m, "size=2") != NULL);
    assert(init(&m, "lokback=3") != NULL);
    puts("ok: follows the recent trend; refuses bad params with a reason");
    return 0;
}
