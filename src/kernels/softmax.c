// softmax.c — softmax rows and fused cross-entropy forward/backward (one exp per
// logit: the exponentials are written once and rescaled in place).
#include "kernels/softmax.h"
#include "kernels/vmath.h"
#include <math.h>
#include <string.h>

void softmax_row(float *x, int n) {
    float mx = vm_max(x, n);
    if (mx == -INFINITY) { for (int i = 0; i < n; i++) x[i] = 0; return; }
    double s = vm_exp_shift(x, x, mx, n);
    float inv = (float)(1.0 / s);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

double cross_entropy(const float *logits, const int *targets, int N, int V, float *dlogits, float scale, int *count) {
    double total = 0;
    int cnt = 0;
    #pragma omp parallel for reduction(+ : total, cnt) if (N > 8)
    for (int n = 0; n < N; n++) {
        const float *l = logits + (long)n * V;
        int t = targets[n];
        if (t < 0 || t >= V) {
            if (dlogits) memset(dlogits + (long)n * V, 0, sizeof(float) * V);
            continue;
        }
        float mx = vm_max(l, V), lt = l[t];
        float *d = dlogits ? dlogits + (long)n * V : NULL;   // may alias l: lt read first
        double s = vm_exp_shift(d, l, mx, V);                 // d[i] = exp(l[i] − mx)
        total += mx + log(s) - lt;
        cnt++;
        if (d) {
            float c = (float)(scale / s);                     // softmax · scale
            for (int i = 0; i < V; i++) d[i] *= c;
            d[t] -= scale;
        }
    }
    *count = cnt;
    return total;
}
