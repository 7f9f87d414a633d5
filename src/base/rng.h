// rng.h — a small, fast, seedable, serializable random generator (xoshiro256**).
// Same seed, same stream, on every machine: training runs resume bit-exactly.
#pragma once
#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);          // splitmix64 expansion of the seed
uint64_t rng_u64(Rng *r);
uint32_t rng_u32(Rng *r);
double rng_uniform(Rng *r);                    // [0, 1)
float rng_normal(Rng *r);                      // N(0, 1), Box-Muller
uint64_t rng_below(Rng *r, uint64_t n);        // uniform in [0, n), unbiased
// Independent stream for (seed, stream id) — e.g. one per thread or per step.
void rng_seed_stream(Rng *r, uint64_t seed, uint64_t stream);
