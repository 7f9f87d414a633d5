// softmax.c — softmax rows and fused cross-entropy forward/backward.
#include "kernels/softmax.h"
#include <math.h>
#include <string.h>

void softmax_row(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) { for (int i = 0; i < n; i++) x[i] = 0; return; }
    double s = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); s += x[i]; }
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
        float mx = -INFINITY;
        for (int i = 0; i < V; i++) if (l[i] > mx) mx = l[i];
        double s = 0;
        for (int i = 0; i < V; i++) s += expf(l[i] - mx);
        double lse = mx + log(s);
        total += lse - l[t];
        cnt++;
        if (dlogits) {
            float *d = dlogits + (long)n * V;
            float lt = l[t], lsef = (float)lse;
            for (int i = 0; i < V; i++) d[i] = expf(l[i] - lsef) * scale;
            d[t] = expf(lt - lsef) * scale - scale;
        }
    }
    *count = cnt;
    return total;
}
