// {{name}}: a momentum agent for the example trading goal (trading-v1).
//
// Each step the goal shows `features = [price, one-step return]` and takes
// `[position]` in [-1, 1]. This agent sums the last `lookback` returns and
// holds `size` in their direction (flat when they cancel out): the same
// policy as the Rust, Python and JavaScript templates, bit for bit. The
// policy is in momentum.c; this file is the component's exports, over the
// bindings `wit-bindgen c` writes into build/bindings.
//
// Params (text, e.g. `lookback=10,size=0.5`): `lookback` (default 60,
// 1..=250), `size` (default 1.0, 0..=1). Unknown keys are refused.

#include <stdlib.h>

#include "agent_pack.h"
#include "momentum.h"

// The host calls `init` once, then `act` at every step, on one instance.
static momentum_t policy;

bool exports_ian_eval_agent_init(agent_pack_list_u8_t *params, agent_pack_string_t *err) {
    const char *problem = momentum_init(&policy, params->ptr, params->len);
    // Arguments are the callee's to free.
    agent_pack_list_u8_free(params);
    if (problem) {
        // Copied, so the host's post-return frees a heap string.
        agent_pack_string_dup(err, problem);
        return false;
    }
    return true;
}

void exports_ian_eval_agent_act(exports_ian_eval_agent_observation_t *obs,
                                exports_ian_eval_agent_action_t *ret) {
    double position = momentum_act(&policy, obs->features.ptr, obs->features.len);
    exports_ian_eval_agent_observation_free(obs);
    ret->ptr = malloc(sizeof(double));
    if (!ret->ptr) abort();
    ret->ptr[0] = position;
    ret->len = 1;
}
